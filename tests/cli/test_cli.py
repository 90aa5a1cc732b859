"""The command line as a user meets it: exit codes, one-line errors, --json, init, fetch."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib

import pytest
from typer.testing import CliRunner

from candlecast.cli.main import app  # importing cli registers every command
from candlecast.core.config import Config, build_config

runner = CliRunner()


def cli(*args: str, cwd=None) -> subprocess.CompletedProcess:
    """The installed console script, as a user runs it."""
    env = os.environ | {"PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    command = [sys.executable, "-c", "from candlecast.cli.main import main; main()", *args]
    return subprocess.run(command, capture_output=True, text=True, cwd=cwd, env=env, timeout=300)


def test_plugins_json_lists_the_builtins():
    result = runner.invoke(app, ["plugins", "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    names = {(r["kind"], r["name"]) for r in rows}
    for cell in ("simple", "lstm", "gru", "bidirectional"):
        assert ("cell", cell) in names
    assert {
        ("source", "csv"),
        ("source", "ccxt"),
        ("publisher", "files"),
        ("publisher", "sql"),
    } <= names
    assert all(r["version"] and r["origin"] for r in rows)


def test_init_writes_the_commented_default(tmp_path):
    target = tmp_path / "candlecast.toml"
    assert runner.invoke(app, ["init", str(target)]).exit_code == 0
    assert build_config(tomllib.loads(target.read_text())) == Config()
    again = cli("init", str(target))
    assert again.returncode == 2 and "exists; use --force" in again.stderr


def test_bad_config_is_one_line_without_traceback(tmp_path):
    result = cli("run", "--set", "model.windw=3", cwd=tmp_path)
    assert result.returncode == 2
    assert "`model.windw` is not a known setting (did you mean `window`?)" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_debug_shows_the_traceback(tmp_path):
    result = cli("--debug", "run", "--set", "model.window=0", cwd=tmp_path)
    assert result.returncode != 0 and "Traceback" in result.stderr


def test_unreachable_exchange_names_the_cause_and_the_offline_way(tmp_path):
    result = cli(
        "run", "--exchange-url", "http://127.0.0.1:9", "--set", "source.retries=1", cwd=tmp_path
    )
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert (
        "could not load the markets of binance: failed after 2 attempt(s): NetworkError: "
        "binance GET http://127.0.0.1:9/api/v3/exchangeInfo (connection refused)"
    ) in lines[0]
    assert "candlecast run --csv FILE" in lines[0]


def test_check_validates_without_running(tmp_path, candles_csv):
    result = cli("run", "--check", "--csv", candles_csv, cwd=tmp_path)
    assert result.returncode == 0 and "configuration is valid" in result.stdout
    unknown = cli(
        "run", "--check", "--csv", candles_csv, "--set", 'model.cells=[{name="tcn"}]', cwd=tmp_path
    )
    assert unknown.returncode == 2 and "unknown cell 'tcn'" in unknown.stderr
    assert "registered cells: bidirectional," in unknown.stderr and "lstm, simple" in unknown.stderr


def test_fetch_against_the_sandbox_exchange(tmp_path, sandbox_exchange):
    args = [
        "fetch",
        "--exchange-url",
        sandbox_exchange.url,
        "--data-home",
        str(tmp_path),
        "--set",
        "source.history_days=30",
    ]
    first = cli(*args, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert "binance:BTC/" in first.stdout
    from candlecast.core.market.candles import SeriesKey
    from candlecast.core.storage.store import Store

    store = Store(f"sqlite:///{tmp_path / 'candlecast.db'}")
    stored = store.candles.count(SeriesKey("binance", "BTC/USDT", "1h"))
    assert stored > 0
    again = cli(*args, cwd=tmp_path)
    assert again.returncode == 0
    assert store.candles.count(SeriesKey("binance", "BTC/USDT", "1h")) == stored


@pytest.mark.parametrize(
    "args",
    [
        ["--help"],
        ["run", "--help"],
        ["sandbox-exchange", "--help"],
        ["candles", "--help"],
        ["candles", "delete", "--help"],
    ],
)
def test_help_texts(args):
    result = runner.invoke(app, args)
    assert result.exit_code == 0 and "Usage" in result.output
