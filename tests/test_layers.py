"""The layer rules (pyproject.toml's import contracts): kept by the tree as it is, and broken
by a deliberate violation, so a change that breaks one fails the suite."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LAYERS = ("core", "plugins", "flows", "deploy", "cli", "sandbox")
LINT = Path(sys.executable).with_name("lint-imports")


def lint(python_path: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    if python_path is not None:  # a `candlecast` folder there is found before the install's
        env["PYTHONPATH"] = str(python_path)
    return subprocess.run(
        [str(LINT), str(ROOT / "pyproject.toml"), "--no-cache"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def copy_of_the_tree(tmp_path: Path) -> Path:
    """The layer folders under `tmp_path/candlecast`, a namespace package as installed."""
    package = tmp_path / "candlecast"
    package.mkdir()
    for layer in LAYERS:
        shutil.copytree(ROOT / layer, package / layer, ignore=shutil.ignore_patterns("__pycache__"))
    return package


def test_the_tree_keeps_every_layer_rule():
    result = lint()
    assert result.returncode == 0, result.stdout + result.stderr
    assert "6 kept, 0 broken" in result.stdout


@pytest.mark.parametrize(
    ("where", "line", "contract"),
    [
        (
            "core/pipeline/probe.py",
            "import prefect\n",
            "core imports no Prefect, pluggy, ccxt, HTTP server or other layer BROKEN",
        ),
        (
            "core/market/probe.py",
            "from candlecast.plugins.sources.ccxt import exchange\n",
            "core imports no Prefect, pluggy, ccxt, HTTP server or other layer BROKEN",
        ),
        (
            "plugins/probe.py",
            "from candlecast.flows import tasks\n",
            "plugins import no flows, deploy, CLI or sandbox BROKEN",
        ),
        ("flows/probe.py", "import candlecast.cli.main\n", "flows import no deploy or CLI BROKEN"),
        ("deploy/probe.py", "from candlecast.cli import app\n", "deploy imports no CLI BROKEN"),
        (
            "sandbox/probe.py",
            "import prefect\n",
            "the sandbox exchange is no part of the run BROKEN",
        ),
        (
            "core/evaluation/probe.py",
            "from candlecast.core.pipeline import plan\n",
            "core's domain packages import no run stage (core/pipeline sits above them) BROKEN",
        ),
    ],
)
def test_a_deliberate_violation_breaks_its_contract(tmp_path, where, line, contract):
    package = copy_of_the_tree(tmp_path)
    (package / where).write_text(line)
    result = lint(tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    assert contract in result.stdout
    assert "5 kept, 1 broken" in result.stdout
