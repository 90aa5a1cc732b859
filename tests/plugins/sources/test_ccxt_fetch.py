"""Fetching through REAL ccxt over HTTP from the sandbox exchange on 127.0.0.1 into the store.

The acceptance of issue 3: a paginated backfill stores exactly the sandbox's closed candles; a
run with nothing new makes one request; after `release(N)` the next run stores exactly N; with
each fault the run recovers or fails clearly, the store never holds a duplicate or loses a
candle, and the next run completes. On SQLite and on PostgreSQL (db_url).
"""

from __future__ import annotations

import ccxt
import pandas as pd
import pytest
import sqlalchemy as sa

from candlecast.core.errors import ConfigError, SourceError
from candlecast.core.market.candles import SeriesKey
from candlecast.core.market.fetch_report import FetchFailed
from candlecast.core.market.gaps import fill_gaps
from candlecast.core.storage.candle_store import CandleStore
from candlecast.plugins.sources.ccxt.exchange import make_exchange
from candlecast.plugins.sources.ccxt.fetching import exchange_page_limit, fetch_candles
from candlecast.plugins.sources.ccxt.retry import RetryPolicy
from candlecast.plugins.sources.ccxt.sync import sync_series
from candlecast.sandbox import SandboxExchange
from tests.fixtures.sandbox import SANDBOX_CANDLES, SANDBOX_HELD_BACK
from tests.fixtures.series import make_candles

BTC = SeriesKey("binance", "BTC/USDT", "1h")
ETH = SeriesKey("binance", "ETH/USDT", "1h")
T0 = pd.Timestamp("2024-01-01", tz="UTC")
HOUR = pd.Timedelta(hours=1)
CLOSED = SANDBOX_CANDLES - SANDBOX_HELD_BACK - 1  # 275 closed at the start; candle 275 is open
HISTORY = CLOSED * HOUR  # the sandbox clock is at 275:30, so the backfill starts at candle 0
PAGE = 20
FAST = RetryPolicy(attempts=4, base_delay=0.01, max_delay=5.0, jitter=0.0)


@pytest.fixture
def store(db_url):
    engine = sa.create_engine(db_url)
    store = CandleStore(engine)
    store.create()
    yield store
    engine.dispose()


class Sleeps(list):
    """A `sleep` that records instead of waiting (retry delays without wall-clock time)."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def client(
    sandbox: SandboxExchange, timeout_ms: int = 3000, rate_limit: bool = False
) -> ccxt.Exchange:
    return make_exchange("binance", url=sandbox.url, timeout_ms=timeout_ms, rate_limit=rate_limit)


def sync(exchange, store, key=BTC, **kwargs):
    kwargs = {"history": HISTORY, "page_limit": PAGE, "retry": FAST, "sleep": Sleeps()} | kwargs
    return sync_series(exchange, store, key, **kwargs)


def assert_store_holds_exactly(store: CandleStore, sandbox: SandboxExchange, key=BTC) -> None:
    """Same candles, same values, each once: nothing lost, nothing duplicated, no open candle."""
    expected = sandbox.candles(key.symbol)
    loaded = store.load(key)
    assert store.count(key) == len(expected)
    assert loaded.index.is_unique
    pd.testing.assert_frame_equal(loaded, expected, check_freq=False)


def test_backfill_across_many_pages_stores_exactly_the_sandbox_candles(sandbox_exchange, store):
    exchange = client(sandbox_exchange, rate_limit=True)  # ccxt's own throttle on, as in production
    report = sync(exchange, store)

    assert_store_holds_exactly(store, sandbox_exchange)
    assert report.new_candles == CLOSED == 275
    # 276 candles exist (275 closed + the open one): 13 full pages of 20 and one of 16
    assert report.pages == 14
    assert report.requests == 15  # fetch_time for the backfill start, then 14 pages
    assert sandbox_exchange.requests == {
        "/api/v3/time": 1,
        "/api/v3/exchangeInfo": 1,  # ccxt loading markets, not a candle request
        "/api/v3/klines": 14,
    }
    assert (report.retries, report.duplicates, report.gap_rechecks) == (0, 0, 0)
    assert report.open_dropped == 1
    assert (report.first, report.last) == (T0, T0 + (CLOSED - 1) * HOUR)
    assert report.completed and report.error is None
    assert store.last_timestamp(BTC) == sandbox_exchange.clock.floor("1h") - HOUR


def test_a_run_with_nothing_new_makes_one_request_and_stores_nothing(sandbox_exchange, store):
    exchange = client(sandbox_exchange)
    sync(exchange, store)
    before = sandbox_exchange.total_requests

    report = sync(exchange, store)

    assert sandbox_exchange.total_requests - before == 1
    assert (report.requests, report.pages, report.new_candles) == (1, 1, 0)
    assert report.completed
    assert store.count(BTC) == CLOSED


def test_after_release_n_the_next_run_stores_exactly_n(sandbox_exchange, store):
    exchange = client(sandbox_exchange)
    sync(exchange, store)
    # each answer (3 stored candles re-read, n new, the open one) fits one page of 20
    for n in (7, 1, 12, SANDBOX_HELD_BACK - 20):
        before, count = sandbox_exchange.total_requests, store.count(BTC)
        sandbox_exchange.release(n)
        report = sync(exchange, store)
        assert report.new_candles == n
        assert store.count(BTC) - count == n
        assert sandbox_exchange.total_requests - before == 1
        assert report.first == T0 + count * HOUR
    assert_store_holds_exactly(store, sandbox_exchange)
    assert store.count(BTC) == SANDBOX_CANDLES - 1  # every candle but the one still open


def test_several_symbols_from_one_client(sandbox_exchange, store):
    exchange = client(sandbox_exchange)
    reports = [sync(exchange, store, key) for key in (BTC, ETH)]
    assert [r.new_candles for r in reports] == [CLOSED, CLOSED]
    assert_store_holds_exactly(store, sandbox_exchange, BTC)
    assert_store_holds_exactly(store, sandbox_exchange, ETH)
    assert not store.load(BTC)["close"].equals(store.load(ETH)["close"])
    assert store.series() == [BTC, ETH]


@pytest.mark.faults
@pytest.mark.parametrize(
    ("fault", "options"),
    [
        ("rate_limit", {"retry_after": 1}),
        ("server_error", {"status": 503}),
        ("server_error", {"status": 500}),
        ("truncated", {}),
        ("malformed", {}),
        ("slow", {"delay": 1.0}),
        ("duplicate", {}),
        ("missing", {}),
    ],
)
def test_each_fault_is_recovered_and_the_store_stays_exact(sandbox_exchange, store, fault, options):
    exchange = client(sandbox_exchange, timeout_ms=300)  # so that a slow answer times out
    sandbox_exchange.inject(fault, times=1, after=3, **options)  # the 4th page goes wrong
    sleeps = Sleeps()

    report = sync(exchange, store, sleep=sleeps)

    assert sandbox_exchange.fired == {fault: 1}
    assert report.completed
    assert_store_holds_exactly(store, sandbox_exchange)
    if fault in ("duplicate", "missing"):
        assert report.retries == 0
        assert report.duplicates == (1 if fault == "duplicate" else 0)
        assert (report.gap_rechecks, report.recovered) == ((1, 1) if fault == "missing" else (0, 0))
    else:
        assert report.retries == 1
        assert report.requests == 15 + 1
        assert sleeps == ([1.0] if fault == "rate_limit" else [0.01])  # Retry-After, or backoff

    # and the next run completes the series
    sandbox_exchange.release(3)
    again = sync(exchange, store)
    assert (again.new_candles, again.requests) == (3, 1)
    assert_store_holds_exactly(store, sandbox_exchange)


@pytest.mark.faults
def test_a_fault_that_outlasts_the_retries_fails_clearly_and_keeps_earlier_pages(
    sandbox_exchange, store
):
    exchange = client(sandbox_exchange)
    sandbox_exchange.inject("rate_limit", times=10, after=3, retry_after=0)
    policy = RetryPolicy(attempts=3, base_delay=0.01, max_delay=5.0, jitter=0.0)

    with pytest.raises(FetchFailed) as err:
        sync(exchange, store, retry=policy)

    assert isinstance(err.value, SourceError)
    message = str(err.value)
    assert f"fetching {BTC} from binance stopped" in message
    assert "failed after 3 attempt(s): DDoSProtection" in message
    assert "60 candle(s) up to 2024-01-03T11:00:00+00:00 were handed over" in message
    report = err.value.report
    assert (report.pages, report.new_candles, report.retries, report.completed) == (3, 60, 2, False)
    assert report.requests == 1 + 3 + 3  # fetch_time, 3 good pages, 3 attempts at the 4th
    assert report.last == T0 + 59 * HOUR
    # the store holds the pages before the failure, exactly
    pd.testing.assert_frame_equal(
        store.load(BTC), sandbox_exchange.candles().iloc[:60], check_freq=False
    )

    # the exchange recovers: the next run resumes after the last stored candle and completes
    sandbox_exchange.clear_faults()
    again = sync(exchange, store, retry=policy)
    assert again.completed and again.new_candles == CLOSED - 60
    assert again.first == T0 + 60 * HOUR
    assert_store_holds_exactly(store, sandbox_exchange)


@pytest.mark.faults
def test_retry_after_is_honoured_and_a_too_long_one_fails_at_once(sandbox_exchange, store):
    exchange = client(sandbox_exchange)
    sandbox_exchange.inject("rate_limit", retry_after=4)
    sleeps = Sleeps()
    sync(exchange, store, sleep=sleeps)
    assert sleeps == [4.0]

    sandbox_exchange.release(2)
    sandbox_exchange.inject("rate_limit", retry_after=30)
    sleeps = Sleeps()
    with pytest.raises(
        FetchFailed, match=r"asked to wait 30 s \(Retry-After\), longer than max_delay=5.0 s"
    ):
        sync(exchange, store, sleep=sleeps)
    assert sleeps == []
    assert store.count(BTC) == CLOSED


def test_a_refused_request_is_not_retried(sandbox_exchange, store):
    exchange = client(sandbox_exchange)
    with pytest.raises(FetchFailed, match="was refused: BadSymbol") as err:
        sync(exchange, store, SeriesKey("binance", "XRP/USDT", "1h"), now=T0 + 100 * HOUR)
    assert err.value.report.retries == 0
    assert store.series() == []


def test_bad_candles_are_rejected_counted_and_not_stored(store):
    series = make_candles(120)
    series.iloc[10, series.columns.get_loc("volume")] = -5.0
    series.iloc[20, series.columns.get_loc("high")] = series["close"].iloc[20] * 0.9
    series.iloc[30, series.columns.get_loc("low")] = 0.0
    with SandboxExchange(series, timeframe="1h") as sandbox:
        report = sync(client(sandbox), store, history=119 * HOUR)
    assert report.rejected.counts == {
        "non_positive_price": 1,
        "negative_volume": 1,
        "high_below_open_close": 1,
    }
    assert report.rejected.checked == 119
    assert report.new_candles == 116 == store.count(BTC)
    stored = store.load(BTC).index
    assert not stored.isin(series.index[[10, 20, 30]]).any()
    assert [e["timestamp"] for e in report.rejected.examples["negative_volume"]] == [
        series.index[10]
    ]
    assert "rejected 3 of 119 candles" in report.summary()


def test_a_real_gap_is_asked_for_once_then_filled_and_flagged_after_loading(store):
    series = make_candles(100)
    series = series.drop(series.index[40:43])
    with SandboxExchange(series, timeframe="1h") as sandbox:
        exchange = client(sandbox)
        report = sync(exchange, store, history=99 * HOUR)
        assert (report.gap_rechecks, report.recovered) == (1, 0)
        assert report.requests == 1 + 5 + 1  # time, 5 pages, one re-ask for the gap
        assert_store_holds_exactly(store, sandbox)
        sandbox.release(1)
        assert sync(exchange, store).gap_rechecks == 0  # the gap is history now
    filled, gaps = fill_gaps(store.load(BTC), "1h", max_gap=3)
    assert list(filled.index[filled["synthetic"]]) == list(make_candles(100).index[40:43])
    assert gaps.filled_candles == 3


def test_fetch_candles_hands_over_each_page_and_respects_until_and_now(sandbox_exchange):
    exchange = client(sandbox_exchange)
    pages: list[pd.DataFrame] = []
    report = fetch_candles(
        exchange,
        BTC,
        since=T0 + 10 * HOUR,
        until=T0 + 50 * HOUR,
        page_limit=15,
        on_page=pages.append,
        retry=FAST,
    )
    # without a clock, a full page's newest candle is closed only once the next page shows a
    # later one: it is asked for again as the first of the next page (no extra request)
    assert [len(p) for p in pages] == [14, 14, 12]
    assert pd.concat(pages).index.equals(pd.date_range(T0 + 10 * HOUR, periods=40, freq="h"))
    assert all(not p["synthetic"].any() for p in pages)
    assert (report.pages, report.requests, report.new_candles) == (3, 3, 40)

    pages.clear()
    report = fetch_candles(
        exchange, BTC, since=T0, on_page=pages.append, now=T0 + 100.5 * HOUR, retry=FAST
    )
    assert report.requests == 1  # the exchange's own page size: 1000 candles
    assert report.last == T0 + 99 * HOUR  # candles closed at `now`; later ones are not kept
    assert report.new_candles == 100


def test_backfill_with_an_explicit_now_needs_no_clock_request(sandbox_exchange, store):
    exchange = client(sandbox_exchange)
    report = sync(exchange, store, now=T0 + 48 * HOUR, history=24 * HOUR, page_limit=None)
    assert report.requests == 1
    assert "/api/v3/time" not in sandbox_exchange.requests
    assert (report.first, report.last, report.new_candles) == (T0 + 24 * HOUR, T0 + 47 * HOUR, 24)


def test_exchange_page_limit_comes_from_ccxt_features():
    assert exchange_page_limit(make_exchange("binance")) == 1000
    assert exchange_page_limit(make_exchange("kraken")) == 720


def test_retry_policy_backoff_numbers():
    policy = RetryPolicy(base_delay=1.0, max_delay=10.0, jitter=0.0)
    assert [policy.backoff(n) for n in range(1, 7)] == [1.0, 2.0, 4.0, 8.0, 10.0, 10.0]
    a = RetryPolicy(base_delay=1.0, jitter=0.5, seed=3)
    b = RetryPolicy(base_delay=1.0, jitter=0.5, seed=3)
    delays = [a.backoff(2) for _ in range(50)]
    assert delays == [b.backoff(2) for _ in range(50)]
    assert all(1.0 <= d <= 3.0 for d in delays) and len(set(delays)) > 1


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"attempts": 0}, "retry attempts must be an integer >= 1, got 0"),
        ({"base_delay": -1}, "retry delays must be >= 0 seconds"),
        ({"jitter": 1.5}, r"retry jitter must be in \[0, 1\), got 1.5"),
    ],
)
def test_retry_policy_rejects_bad_settings(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        RetryPolicy(**kwargs)


def test_sync_series_rejects_bad_arguments(sandbox_exchange, store):
    exchange = client(sandbox_exchange)
    with pytest.raises(ConfigError, match="history must be a positive duration"):
        sync_series(exchange, store, BTC, history=pd.Timedelta(0))
    with pytest.raises(ConfigError, match="names exchange 'kraken' but the client is 'binance'"):
        sync_series(exchange, store, SeriesKey("kraken", "BTC/USDT", "1h"), history=HISTORY)
    with pytest.raises(ConfigError, match="page_limit must be a positive integer"):
        sync_series(exchange, store, BTC, history=HISTORY, page_limit=0)
    assert sandbox_exchange.total_requests == 1  # only the clock was read before page_limit failed
