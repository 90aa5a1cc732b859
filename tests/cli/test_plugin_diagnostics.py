"""Broken plugins as their authors meet them: installed by entry point, seen by the real
`candlecast` command in a fresh process. `candlecast plugins` names the ones that registered
nothing and why; a hook with the wrong arguments or a misspelled name stops with the hook's
signature or the hooks that exist; `candlecast run --check` builds every configured cell."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.fixtures.plugins import env_with, install_plugin

CELL = """
class {cls}:
    name = "{name}"
    description = "a test cell"

    def build(self, request{extra}):
        import keras

        return keras.layers.GRU(
            request.units, return_sequences=request.return_sequences, name=request.name
        )
"""

UNMARKED = (
    CELL.format(cls="Quiet", name="quiet", extra=", cells")
    + """

def register_cells(register):  # no @hookimpl: candlecast never calls it
    register(Quiet())
"""
)

RETURNS = (
    "from candlecast.plugins import hookimpl\n"
    + CELL.format(cls="Listed", name="listed", extra=", cells")
    + """

@hookimpl
def register_cells(register):
    return [Listed()]  # instead of register(Listed())
"""
)

NO_CELLS_ARG = (
    "from candlecast.plugins import hookimpl\n"
    + CELL.format(cls="Peephole", name="peephole", extra="")
    + """

@hookimpl
def register_cells(register):
    register(Peephole())
"""
)

TYPO = """
from candlecast.plugins import hookimpl


@hookimpl
def register_cell(register):
    pass
"""

WRONG_ARGUMENT = """
from candlecast.plugins import hookimpl


@hookimpl
def register_cells(reg):
    pass
"""


def candlecast(site, *args: str, cwd=None) -> subprocess.CompletedProcess:
    command = [sys.executable, "-c", "from candlecast.cli.main import main; main()", *args]
    return subprocess.run(
        command, capture_output=True, text=True, env=env_with(site), cwd=cwd, timeout=300
    )


@pytest.fixture
def broken_site(plugin_site):
    """Three installed plugins that load but misbehave."""
    install_plugin(
        plugin_site, "candlecast-quiet", {"quiet": "quiet_cell"}, {"quiet_cell.py": UNMARKED}
    )
    install_plugin(
        plugin_site, "candlecast-listed", {"listed": "listed_cell"}, {"listed_cell.py": RETURNS}
    )
    install_plugin(
        plugin_site,
        "candlecast-peephole",
        {"peephole": "peephole_cell"},
        {"peephole_cell.py": NO_CELLS_ARG},
    )
    return plugin_site


def test_plugins_names_the_installed_plugins_that_registered_nothing_and_why(broken_site):
    listed = candlecast(broken_site, "plugins")
    assert listed.returncode == 0, listed.stderr
    lines = " ".join(listed.stdout.split())
    assert (
        "warning: plugin 'quiet' 0.1.0 (entry point candlecast-quiet) registered nothing: it "
        "defines register_cells without @hookimpl, so candlecast does not see it: decorate it "
        "with @hookimpl (from candlecast.plugins import hookimpl)"
    ) in lines
    assert (
        "warning: plugin 'listed' 0.1.0 (entry point candlecast-listed) registered nothing: its "
        "register_cells returned a list instead of calling register(...): call register(obj) "
        "once for each thing it adds"
    ) in lines
    assert "peephole" in lines and "registered nothing: " not in lines.split("'peephole'")[-1][:40]

    rows = json.loads(candlecast(broken_site, "plugins", "--json").stdout)
    problems = {row["plugin"]: row.get("problem") for row in rows if row["kind"] is None}
    assert set(problems) == {"quiet", "listed"}
    assert problems["listed"].startswith("registered nothing: its register_cells returned a list")
    assert {"cell", "source", "publisher", "detector"} <= {r["kind"] for r in rows if r["kind"]}


def test_a_misspelled_hook_lists_the_real_hooks_not_itself(plugin_site):
    install_plugin(
        plugin_site, "candlecast-typo", {"typo": "typo_plugin"}, {"typo_plugin.py": TYPO}
    )
    result = candlecast(plugin_site, "plugins")
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "error: plugin 'typo' implements register_cell (did you mean register_cells?), which "
        "candlecast does not define; known hooks: register_cells, register_detectors, "
        "register_publishers, register_sources"
    )


def test_a_hook_with_the_wrong_argument_gets_the_hooks_signature(plugin_site):
    install_plugin(
        plugin_site,
        "candlecast-wrongarg",
        {"wrongarg": "wrongarg_plugin"},
        {"wrongarg_plugin.py": WRONG_ARGUMENT},
    )
    result = candlecast(plugin_site, "plugins")
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "error: plugin 'wrongarg' (wrongarg_plugin): its register_cells(reg) takes 'reg', which "
        "candlecast does not pass: the hook is register_cells(register); call register(obj) "
        "once for each thing it adds"
    )
    assert "PluginValidationError" not in result.stderr


@pytest.mark.slow
def test_check_builds_every_configured_cell_and_names_the_broken_one(
    broken_site, tmp_path, candles_csv
):
    cells = 'model.cells=[{name="gru", units=4}, {name="peephole", units=4}]'
    broken = candlecast(
        broken_site, "run", "--check", "--csv", candles_csv, "--set", cells, cwd=tmp_path
    )
    assert broken.returncode == 2, broken.stdout + broken.stderr
    assert broken.stderr.strip() == (
        "error: 1 of 2 configured cell(s) cannot build their network: cell 'peephole': its "
        "build(self, request) cannot be called as build(request, cells); define it as `def "
        "build(self, request, cells)`: `request` (a CellRequest: units, return_sequences, "
        "activation, dropout, params, name) and `cells` (every registered cell, for a cell that "
        "wraps another)"
    )
    assert not (tmp_path / "candlecast-data").exists()  # nothing ran

    unknown = candlecast(
        broken_site,
        "run",
        "--check",
        "--csv",
        candles_csv,
        "--set",
        'model.cells=[{name="listed"}]',
        cwd=tmp_path,
    )
    assert unknown.returncode == 2
    assert unknown.stderr.startswith("error: unknown cell 'listed'; registered cells: ")
    assert ", gru, lstm, peephole, simple; plugin " in unknown.stderr  # conv_gru if installed
    assert (
        "plugin 'listed' (entry point candlecast-listed) registered nothing: its "
        "register_cells returned a list instead of calling register(...)"
    ) in unknown.stderr

    few = candlecast(
        broken_site,
        "run",
        "--check",
        "--csv",
        candles_csv,
        "--set",
        'model.cells=[{name="gru", units=4}, {name="lstm", units=8, layers=2}]',
        "--set",
        "backtest.origins_per_fold=30",
        cwd=tmp_path,
    )
    assert few.returncode == 0, few.stderr
    out = " ".join(few.stdout.split())
    assert out.startswith("configuration is valid cells built (no training): gru (")
    assert "weights), lstm (" in out
    assert (
        "warning: the backtest has 30 origins per series (backtest.folds = 1 x "
        "backtest.origins_per_fold = 30; fewer count where candles are gap-filled): 95% "
        "intervals need at least 39, so no forecast gets a 95% interval"
    ) in out
    assert "80%" not in out  # 30 origins are enough for 80% intervals
