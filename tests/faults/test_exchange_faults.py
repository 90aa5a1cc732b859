"""The exchange fails mid-backfill, or the fetch is killed mid-backfill: `candlecast fetch` (the
real entry point, real ccxt against the loopback sandbox exchange) stops with one line saying how
far it got (or dies), keeps every page it stored, and the next fetch resumes there: no candle
lost, none twice."""

from __future__ import annotations

import time

import pandas as pd
import pytest

from candlecast.core.market.candles import SeriesKey
from candlecast.core.storage.store import Store
from candlecast.sandbox import SandboxExchange
from tests.faults.conftest import cli, kill, start_cli
from tests.fixtures.series import make_candles

pytestmark = [pytest.mark.faults, pytest.mark.slow]

KEY = SeriesKey("binance", "BTC/USDT", "1h")
CANDLES = 2500  # Binance pages hold 1000 candles: a backfill of three pages


def _stored(home, url: str | None = None) -> pd.DataFrame:
    store = Store(url or f"sqlite:///{home / 'candlecast.db'}")
    try:
        return store.candles.load(KEY)
    finally:
        store.close()


def test_the_exchange_failing_mid_backfill_resumes_on_the_next_fetch_without_loss(tmp_path):
    series = make_candles(CANDLES, random_walk=True, seed=3)
    with SandboxExchange({"BTC/USDT": series}, timeframe="1h", hold_back=10) as sandbox:
        closed = sandbox.candles("BTC/USDT")
        args = [
            "fetch",
            "--exchange-url",
            sandbox.url,
            "--data-home",
            str(tmp_path),
            "--set",
            "source.history_days=100",  # from about candle 90: a backfill of three pages
            "--set",
            "source.retries=1",  # two attempts a request, one second apart
        ]
        # the first page arrives, then the exchange answers every request with HTTP 503
        sandbox.inject("server_error", times=50, after=1, status=503)
        failed = cli(*args, cwd=tmp_path)
        assert failed.returncode == 1, failed.stderr
        assert "Traceback" not in failed.stdout + failed.stderr
        report = " ".join(failed.stdout.split())  # the table wraps long cells
        assert "fetching binance:BTC/USDT:1h from binance stopped" in report
        assert "1000 candle(s) up to" in report and "the next run resumes there" in report
        row = next(line for line in failed.stdout.splitlines() if "│ binance:BTC/USDT" in line)
        assert row.split("│")[2].strip() == "1000"  # what it stored before it stopped
        first = _stored(tmp_path)
        assert len(first) == 1000 and first.index.is_unique
        closed = closed.loc[first.index[0] :]  # the backfill starts history_days back
        assert len(closed) > 2000
        pd.testing.assert_frame_equal(first, closed.iloc[:1000], check_freq=False)

        sandbox.clear_faults()
        resumed = cli(*args, cwd=tmp_path)
        assert resumed.returncode == 0, resumed.stderr
        after = _stored(tmp_path)
        assert len(after) == len(closed)  # every closed candle, once
        assert after.index.is_unique and after.index.is_monotonic_increasing
        pd.testing.assert_frame_equal(after, closed, check_freq=False)
        pd.testing.assert_frame_equal(after.iloc[:1000], first, check_freq=False)
        row = next(line for line in resumed.stdout.splitlines() if "binance:BTC/USDT" in line)
        assert f"│ {len(closed) - 1000} " in row  # only what the failed fetch had not stored


@pytest.mark.parametrize(
    "database", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def test_a_fetch_killed_mid_backfill_resumes_without_loss_or_double(tmp_path, request, database):
    url = request.getfixturevalue("sqlite_url" if database == "sqlite" else "pg_url")
    series = make_candles(CANDLES, random_walk=True, seed=5)
    with SandboxExchange({"BTC/USDT": series}, timeframe="1h", hold_back=10) as sandbox:
        closed = sandbox.candles("BTC/USDT")
        args = ["fetch", "--exchange-url", sandbox.url, "--data-home", str(tmp_path)]
        args += ["--set", "source.history_days=100"]  # a backfill of three 1000-candle pages
        env = {"CANDLECAST_DATABASE_URL": url, "CANDLECAST_MARKETS_CACHE": "off"}
        # the second page is held back; the process is SIGKILLed while it waits for it
        sandbox.inject("slow", times=1, after=1, delay=120)
        process = start_cli(*args, cwd=tmp_path, log=tmp_path / "killed.log", **env)
        deadline = time.monotonic() + 240
        while sandbox.requests.get("/api/v3/klines", 0) < 2:
            assert process.poll() is None, (tmp_path / "killed.log").read_text()
            assert time.monotonic() < deadline, "the second page was never asked for"
            time.sleep(0.1)
        kill(process)
        first = _stored(tmp_path, url)
        assert len(first) == 1000 and first.index.is_unique  # the first page, whole
        closed = closed.loc[first.index[0] :]
        pd.testing.assert_frame_equal(first, closed.iloc[:1000], check_freq=False)

        sandbox.clear_faults()
        resumed = cli(*args, cwd=tmp_path, **env)
        assert resumed.returncode == 0, resumed.stderr
        after = _stored(tmp_path, url)
        pd.testing.assert_frame_equal(after, closed, check_freq=False)  # all once, none lost
        row = next(line for line in resumed.stdout.splitlines() if "│ binance:BTC/USDT" in line)
        assert [c.strip() for c in row.split("│")[2:4]] == [str(len(closed) - 1000), "0"]
