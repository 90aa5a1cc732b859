"""`candlecast fetch` as a user runs it (issue 15): every kind of troublesome CSV in one fetch,
each with its message; a corrected re-export; the markets request retried through real ccxt over
HTTP against the loopback exchange; a failure that names its cause and the way forward."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from candlecast.core.market.candles import SeriesKey
from candlecast.core.storage.store import Store
from tests.fixtures.series import make_candles


def cli(*args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess:
    environment = os.environ | {
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "COLUMNS": "200",
        "CANDLECAST_MARKETS_CACHE": "off",
    }
    environment.pop("CANDLECAST_DATABASE_URL", None)
    command = [sys.executable, "-c", "from candlecast.cli.main import main; main()", *args]
    return subprocess.run(
        command, capture_output=True, text=True, cwd=cwd, env=environment | env, timeout=300
    )


def write(path: Path, frame: pd.DataFrame, *, sep: str = ",", stamps=None) -> None:
    out = frame.drop(columns="synthetic", errors="ignore").copy()
    out.index = (out.index if stamps is None else stamps).tz_convert(None)
    out.to_csv(path, index_label="timestamp", sep=sep)


def line_of(result: subprocess.CompletedProcess, start: str) -> str:
    return next(line for line in result.stdout.splitlines() if line.startswith(start))


def row_of(result: subprocess.CompletedProcess, series: str) -> list[str]:
    line = next(line for line in result.stdout.splitlines() if f"│ {series} " in line)
    return [cell.strip() for cell in line.strip().strip("│").split("│")]


@pytest.mark.slow
def test_every_troublesome_csv_gets_its_message_in_one_fetch(tmp_path):
    candles = make_candles(100)
    write(tmp_path / "CLOSE-USDT.csv", candles, stamps=candles.index + pd.Timedelta("59min59s"))
    write(tmp_path / "FOUR-USDT.csv", make_candles(100, timeframe="4h"))
    write(tmp_path / "DAY-USDT.csv", make_candles(100, timeframe="24h"))
    write(tmp_path / "SEMI-USDT.csv", candles, sep=";")
    nulls = candles.copy()
    nulls.iloc[10, nulls.columns.get_loc("close")] = float("nan")
    write(tmp_path / "NULL-USDT.csv", nulls)
    text = (tmp_path / "NULL-USDT.csv").read_text().splitlines()
    text[11] = text[11].replace(",,", ",null,")  # pandas writes NaN as an empty cell
    (tmp_path / "NULL-USDT.csv").write_text("\n".join(text) + "\n")
    bad = candles.copy()
    close = bad["close"].iloc[0]
    bad.iloc[0, :4] = [close * 3.76, close * 3.76, close * 0.99, close]
    write(tmp_path / "BAD-USDT.csv", bad)
    write(tmp_path / "EDIT-USDT.csv", candles.iloc[:99])
    symbols = "CLOSE/USDT,FOUR/USDT,DAY/USDT,SEMI/USDT,NULL/USDT,BAD/USDT,EDIT/USDT"
    args = ["fetch", "--csv", "{symbol}.csv", "--symbols", symbols, "--data-home", "home"]

    result = cli(*args, cwd=tmp_path)

    assert result.returncode == 1, result.stderr  # two series failed, the others are stored
    assert "Traceback" not in result.stdout + result.stderr
    assert line_of(result, "csv:CLOSE/USDT:1h: ") == (
        f"csv:CLOSE/USDT:1h: {tmp_path}/CLOSE-USDT.csv stamps candles at their close time "
        "(2024-01-01 00:59:59 is 1s before the 1h grid); candlecast stamps a candle with its "
        "open time, so all 100 were moved to their open times (2024-01-01 00:59:59 -> "
        "2024-01-01 00:00:00)"
    )
    assert line_of(result, "csv:FOUR/USDT:1h: ") == (
        f"csv:FOUR/USDT:1h: failed: candle CSV {tmp_path}/FOUR-USDT.csv holds 4h candles (99 of "
        "its 99 steps between rows are 4h), but the series' timeframe is 1h; run with "
        "--timeframe 4h (source.timeframe), or give a file of 1h candles"
    )
    assert line_of(result, "csv:DAY/USDT:1h: ") == (
        f"csv:DAY/USDT:1h: failed: candle CSV {tmp_path}/DAY-USDT.csv holds 1d candles (99 of "
        "its 99 steps between rows are 1d), but the series' timeframe is 1h; run with "
        "--timeframe 1d (source.timeframe), or give a file of 1h candles"
    )
    n = candles.iloc[10]
    assert line_of(result, "csv:NULL/USDT:1h: ") == (
        "csv:NULL/USDT:1h: rejected 1 of 100 candles: 1 nan; e.g. nan at 2024-01-01 10:00: "
        f"open {n['open']:.10g} high {n['high']:.10g} low {n['low']:.10g} close nan "
        f"volume {n['volume']:.10g}"
    )
    b = bad.iloc[0]
    assert line_of(result, "csv:BAD/USDT:1h: ") == (
        "csv:BAD/USDT:1h: rejected 1 of 100 candles: 1 implausible_range; e.g. "
        f"implausible_range at 2024-01-01 00:00: open {b['open']:.10g} high {b['high']:.10g} "
        f"low {b['low']:.10g} close {b['close']:.10g} volume {b['volume']:.10g}"
    )
    assert row_of(result, "csv:SEMI/USDT:1h")[:3] == ["csv:SEMI/USDT:1h", "100", "0"]
    assert row_of(result, "csv:CLOSE/USDT:1h")[:2] == ["csv:CLOSE/USDT:1h", "100"]
    assert row_of(result, "csv:FOUR/USDT:1h")[1:] == ["–"] * 6 + ["failed"]

    store = Store(f"sqlite:///{tmp_path / 'home' / 'candlecast.db'}")
    try:
        stored = {key.symbol: store.candles.count(key) for key in store.candles.series()}
        assert stored == {
            "BAD/USDT": 99,
            "CLOSE/USDT": 100,
            "EDIT/USDT": 99,
            "NULL/USDT": 99,
            "SEMI/USDT": 100,
        }
        closes = store.candles.load(SeriesKey("csv", "CLOSE/USDT", "1h"))
        assert closes.index.equals(candles.index)  # on open times, nothing off the grid

        # the export is made again: its last row, a partial candle then, is complete now
        final = candles.copy()
        final.iloc[98, final.columns.get_loc("volume")] += 40.0
        write(tmp_path / "EDIT-USDT.csv", final)
        again = cli(*args[:3], "--symbols", "EDIT/USDT", *args[5:], cwd=tmp_path)
        assert again.returncode == 0, again.stderr
        assert line_of(again, "csv:EDIT/USDT:1h: ") == (
            "csv:EDIT/USDT:1h: 1 stored candle(s) corrected with the source's newer values "
            "(2024-01-05 02:00 UTC)"
        )
        assert row_of(again, "csv:EDIT/USDT:1h")[:3] == ["csv:EDIT/USDT:1h", "1", "1"]
        edited = store.candles.load(SeriesKey("csv", "EDIT/USDT", "1h"))
        pd.testing.assert_frame_equal(edited, final, check_freq=False)
    finally:
        store.close()


@pytest.mark.slow
def test_the_markets_request_is_retried_and_a_lasting_rate_limit_says_wait(
    tmp_path, sandbox_exchange
):
    args = ["fetch", "--exchange-url", sandbox_exchange.url, "--data-home", "home"]
    args += ["--symbols", "BTC/USDT", "--set", "source.history_days=2", "--set", "source.retries=1"]
    sandbox_exchange.inject("rate_limit", endpoint="exchangeInfo", times=1, retry_after=0)

    ok = cli(*args, cwd=tmp_path)

    assert ok.returncode == 0, ok.stderr
    assert sandbox_exchange.requests["/api/v3/exchangeInfo"] == 2  # the 429, then the markets
    assert row_of(ok, "binance:BTC/USDT:1h")[1] == "48"

    sandbox_exchange.inject("rate_limit", endpoint="exchangeInfo", times=5, retry_after=0)
    limited = cli(*args, cwd=tmp_path)
    assert limited.returncode == 2
    message = " ".join(limited.stderr.split())
    assert message.startswith(
        "error: could not load the markets of binance: failed after 2 attempt(s): "
        "DDoSProtection: binance 429 Too Many Requests"
    )
    assert message.endswith(
        "; the exchange answered but kept limiting requests: wait a few minutes and run again "
        "(or raise source.retries)"
    )
    assert "offline" not in message  # the exchange is there: a CSV is no remedy
