"""What a user's terminal shows: candlecast's own output, no library chatter (TensorFlow's
retracing notices, deprecation warnings) unless --debug."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.fixtures.plugins import env_with, install_plugin

TINY = [
    "--set", "model.window=12",
    "--set", "model.horizon=4",
    "--set", 'model.cells=[{name="simple", units=4}, {name="lstm", units=4}, {name="gru", units=4}, {name="bidirectional", units=4}]',
    "--set", "training.epochs=2",
    "--set", "backtest.origins_per_fold=40",
    "--set", "backtest.step=2",
    "--set", 'backtest.baselines=["naive", "seasonal_naive"]',
]  # fmt: skip


@pytest.mark.slow
def test_a_run_shows_its_summary_and_no_library_chatter(tmp_path, candles_csv):
    env = os.environ | {"PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    command = [sys.executable, "-c", "from candlecast.cli.main import main; main()"]
    done = subprocess.run(
        [*command, "run", "--csv", candles_csv, *TINY],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "report: " in done.stdout and "csv:BTC/USDT:1h" in done.stdout
    terminal = done.stdout + done.stderr
    for chatter in ("retracing", "tensorflow", "WARNING", "Warning:", "INFO"):
        assert chatter not in terminal, terminal[-3000:]


FAILING_PARTS = """
from candlecast.plugins import hookimpl


class FragileCell:
    name = "fragile"
    description = "a cell whose layer cannot be built"

    def build(self, request, cells):
        raise ValueError("fragile cannot build a layer of 4 units")


class FlakyPublisher:
    name = "flaky"
    description = "a publisher whose target is gone"

    def publish(self, results, config):
        raise OSError("the share //reports is not mounted")


@hookimpl
def register_cells(register):
    register(FragileCell())


@hookimpl
def register_publishers(register):
    register(FlakyPublisher())
"""


@pytest.mark.slow
def test_a_run_that_failed_in_part_lists_what_failed_and_exits_1(
    plugin_site, tmp_path, candles_csv
):
    """A cell that cannot build and a publisher that fails, installed by entry point: the run
    still forecasts with the other models, says `partial`, lists both failures with their
    reasons, exits 1, and the report opens with the same list."""
    install_plugin(
        plugin_site,
        "candlecast-failing",
        {"failing": "failing_parts"},
        {"failing_parts.py": FAILING_PARTS},
    )
    cells = '[{name="gru", units=4}, {name="fragile", units=4}]'
    args = [a if not a.startswith("model.cells=") else f"model.cells={cells}" for a in TINY]
    command = [sys.executable, "-c", "from candlecast.cli.main import main; main()"]
    done = subprocess.run(
        [
            *command,
            "run",
            "--csv",
            candles_csv,
            *args,
            "--set",
            'publish.publishers=["files", "flaky"]',
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env_with(plugin_site),
        timeout=600,
    )
    out = " ".join(done.stdout.split())
    assert done.returncode == 1, done.stdout[-3000:] + done.stderr[-3000:]
    assert "— partial" in out
    assert "thing(s) failed in this run:" in out
    assert "csv:BTC/USDT:1h close fragile: failed: " in out
    assert "fragile cannot build a layer of 4 units" in out
    assert "publisher flaky failed: " in out and "the share //reports is not mounted" in out
    (report,) = (tmp_path / "candlecast-data" / "reports").glob("2*.html")
    page = report.read_text(encoding="utf-8")
    assert "Failed in this run:" in page and "fragile cannot build a layer of 4 units" in page
