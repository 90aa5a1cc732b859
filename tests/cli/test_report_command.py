"""`candlecast report`: lists runs, prints one run, writes or copies its HTML, opens it."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from candlecast.cli.main import app
from candlecast.core.errors import CandlecastError, ConfigError
from candlecast.core.report import reports_dir
from candlecast.core.storage.store import Store
from tests.fixtures.results import make_results

RUN_OLD = "20240101T000000Z-aaaaaa"
RUN_NEW = "20240126T000000Z-abcdef"


@pytest.fixture(autouse=True)
def wide_console(monkeypatch):
    """Rich wraps at 80 columns when not on a terminal; these tests read whole lines."""
    from candlecast.cli.app import console

    monkeypatch.setattr(console, "_width", 200)


@pytest.fixture
def home(tmp_path):
    """A data home whose database holds two runs, with candles; no report files yet."""
    home = tmp_path / "home"
    store = Store(f"sqlite:///{home / 'candlecast.db'}").create()
    try:
        for run_id, started in ((RUN_OLD, "2024-01-01"), (RUN_NEW, "2024-01-26")):
            results = make_results(run_id, started=started)
            with store.engine.begin() as conn:
                store.runs.record(results, conn)
                store.anomalies.record(results, conn)
        outcome = results.series[0]
        store.candles.upsert(outcome.key, outcome.candles)
    finally:
        store.close()
    return home


def _run(*args: str):
    return CliRunner().invoke(app, list(args), catch_exceptions=True)


def test_report_lists_the_runs_newest_first_and_writes_the_index(home):
    result = _run("report", "--data-home", str(home))
    assert result.exit_code == 0, result.output
    assert result.output.index(RUN_NEW[:16]) < result.output.index(RUN_OLD[:16])
    assert "binance:BTC/USDT:1h" in result.output
    index = (reports_dir(home) / "index.html").read_text()
    assert RUN_NEW in index and RUN_OLD in index


def test_report_latest_prints_the_summary_and_writes_the_html_from_the_database(home):
    result = _run("report", "--data-home", str(home), "--latest")
    assert result.exit_code == 0, result.output
    out = result.output
    assert f"run {RUN_NEW}" in out
    assert "champion lstm: lstm (MASE 0.90) beats naive (MASE 1.00)" in out
    assert "102.000–104.000" in out and "101.000–105.000" in out  # step 1, lstm: 80 % and 95 %
    assert "2 anomaly flag(s): 2 spike" in out
    path = reports_dir(home) / f"{RUN_NEW}.html"
    assert f"report: {path}" in out
    assert 'id="decomp-binance-btc-usdt-1h"' in path.read_text()  # recomputed from candles
    assert f'href="{RUN_NEW}.html"' in (reports_dir(home) / "index.html").read_text()


def test_report_keeps_the_runs_own_file_copies_it_for_out_and_refreshes_on_request(home, tmp_path):
    made = reports_dir(home) / f"{RUN_OLD}.html"
    made.parent.mkdir(parents=True)
    made.write_text("<html>written by the run</html>")
    assert _run("report", "--data-home", str(home), "--run", RUN_OLD).exit_code == 0
    assert made.read_text() == "<html>written by the run</html>"

    out = tmp_path / "elsewhere" / "r.html"
    assert (
        _run("report", "--data-home", str(home), "--run", RUN_OLD, "--out", str(out)).exit_code == 0
    )
    assert out.read_text() == "<html>written by the run</html>"

    refreshed = _run("report", "--data-home", str(home), "--run", RUN_OLD, "--refresh")
    assert refreshed.exit_code == 0, refreshed.output
    assert made.read_text().startswith("<!DOCTYPE html>")


def test_report_open_opens_the_file_in_a_browser(home, monkeypatch):
    opened = []
    monkeypatch.setattr("webbrowser.open", lambda url: opened.append(url) or True)
    result = _run("report", "--data-home", str(home), "--latest", "--open")
    assert result.exit_code == 0, result.output
    assert opened == [(reports_dir(home) / f"{RUN_NEW}.html").resolve().as_uri()]


@pytest.mark.parametrize(
    ("args", "error", "message"),
    [
        (("--run", "nope"), CandlecastError, "run 'nope' is not in database"),
        (("--run", RUN_NEW, "--latest"), ConfigError, "give one of them"),
        (("--out", "x.html"), ConfigError, "--out needs a run"),
        (("--run", "../../x"), ConfigError, "cannot name a report file"),
    ],
)
def test_report_errors_name_what_was_wrong(home, args, error, message):
    result = _run("report", "--data-home", str(home), *args)
    assert isinstance(result.exception, error)
    assert message in str(result.exception)


def test_report_without_a_database_says_so_and_creates_nothing(tmp_path):
    result = _run("report", "--data-home", str(tmp_path / "empty"))
    assert isinstance(result.exception, CandlecastError)
    assert "no database at" in str(result.exception)
    assert not (tmp_path / "empty").exists()
