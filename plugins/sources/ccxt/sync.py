"""Bringing one stored series up to date from an exchange: the first run backfills the
history, later runs ask from `OVERLAP` candles before the newest stored one (in the same one
request), so a candle the exchange corrected after it was stored is overwritten and counted.
Every page is compared with the store, checked and stored before the next is asked for."""

from __future__ import annotations

import time
from collections.abc import Callable

import ccxt
import pandas as pd

from candlecast.core.errors import ConfigError
from candlecast.core.market.candles import SeriesKey
from candlecast.core.market.fetch_report import FetchFailed, FetchReport
from candlecast.core.market.timeframes import timeframe_seconds
from candlecast.core.market.validation import Rejections
from candlecast.core.storage.candle_ingest import ingest_candles
from candlecast.core.storage.candle_store import CandleStore
from candlecast.plugins.sources.ccxt.clock import ExchangeClock, read_clock
from candlecast.plugins.sources.ccxt.fetching import fetch_candles
from candlecast.plugins.sources.ccxt.retry import RetryPolicy

OVERLAP = 3  # stored candles re-read by every incremental fetch, for corrections


def sync_series(
    exchange: ccxt.Exchange,
    store: CandleStore,
    key: SeriesKey,
    *,
    history: pd.Timedelta,
    retry: RetryPolicy | None = None,
    page_limit: int | None = None,
    now: pd.Timestamp | None = None,
    until: pd.Timestamp | None = None,
    sleep: Callable[[float], None] = time.sleep,
    recheck_gaps: bool = True,
    overlap: int = OVERLAP,
    progress: Callable[[pd.Timestamp, pd.Timestamp], None] | None = None,
) -> FetchReport:
    """Bring the stored series `key` up to date; returns what was done.

    `progress(since, fetched_through)` is called after each stored page (for progress bars).

    First run (nothing stored): backfills from `now - history` (the exchange's clock unless
    `now` is given; that costs one `fetch_time` request, and the reading also decides which
    candles have closed). Later runs: from `overlap` candles before the newest stored one, one
    request when the series is up to date; a re-read candle whose values changed is overwritten
    and counted in `report.corrected`. Each page is checked (validation, plausibility beside
    the stored neighbours) and its clean candles upserted before the next page is fetched;
    rejected candles are counted in the report. A request that still fails after `retry`
    raises FetchFailed (a SourceError) with the report, after storing the pages before it.
    """
    history = pd.Timedelta(history)
    if history <= pd.Timedelta(0):
        raise ConfigError(
            f"history must be a positive duration (for example 365 days), got {history}"
        )
    if exchange.id != key.exchange:
        raise ConfigError(
            f"series {key} names exchange {key.exchange!r} but the client is {exchange.id!r}"
        )
    if isinstance(overlap, bool) or not isinstance(overlap, int) or overlap < 0:
        raise ConfigError(f"overlap must be an integer >= 0 (candles), got {overlap!r}")
    retry = retry or RetryPolicy()
    tf = pd.Timedelta(seconds=timeframe_seconds(key.timeframe))
    report_time = FetchReport(key=key)
    last = store.last_timestamp(key)
    clock: ExchangeClock | None = None
    if last is None:
        if now is None:
            clock = read_clock(exchange, retry, sleep, report_time)
        start = now if now is not None else clock.now if clock is not None else _local(exchange)
        since = (pd.Timestamp(start) - history).floor(tf)
    else:
        since = last + tf - overlap * tf

    rejected = Rejections()
    new: list[pd.Timestamp] = []
    corrected: list[pd.Timestamp] = []

    def on_page(frame: pd.DataFrame) -> None:
        nonlocal rejected
        done = ingest_candles(store, key, frame)
        rejected = rejected.merged(done.rejected)
        new.extend(done.new)
        corrected.extend(done.corrected)
        if progress is not None and len(frame):
            progress(since, pd.Timestamp(frame.index[-1]))

    def finish(report: FetchReport) -> FetchReport:
        report.requests += report_time.requests
        report.retries += report_time.retries
        report.rejected = rejected
        report.new_candles = len(new)
        report.first, report.last = (min(new), max(new)) if new else (None, None)
        report.add_corrections(sorted(corrected))
        return report

    try:
        report = fetch_candles(
            exchange,
            key,
            since=since,
            until=until,
            page_limit=page_limit,
            on_page=on_page,
            retry=retry,
            now=now,
            clock=clock,
            sleep=sleep,
            recheck_gaps=recheck_gaps,
            known_until=last,
        )
    except FetchFailed as exc:
        finish(exc.report)
        raise
    return finish(report)


def _local(exchange: ccxt.Exchange) -> pd.Timestamp:
    """The local clock, for an exchange without a time endpoint (the backfill start only)."""
    return pd.Timestamp(int(exchange.milliseconds()), unit="ms", tz="UTC")
