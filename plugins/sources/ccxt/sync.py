"""Bringing one stored series up to date from an exchange: the first run backfills the
history, later runs ask only for candles after the newest stored one; every page is validated
and stored before the next is asked for."""

from __future__ import annotations

import time
from collections.abc import Callable

import ccxt
import pandas as pd

from candlecast.core.errors import ConfigError
from candlecast.core.market.candles import SeriesKey
from candlecast.core.market.fetch_report import FetchFailed, FetchReport
from candlecast.core.market.timeframes import timeframe_seconds
from candlecast.core.market.validation import Rejections, validate_candles
from candlecast.core.storage.candle_store import CandleStore
from candlecast.plugins.sources.ccxt.fetching import exchange_now, fetch_candles
from candlecast.plugins.sources.ccxt.retry import RetryPolicy


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
    progress: Callable[[pd.Timestamp, pd.Timestamp], None] | None = None,
) -> FetchReport:
    """Bring the stored series `key` up to date; returns what was done.

    `progress(since, fetched_through)` is called after each stored page (for progress bars).

    First run (nothing stored): backfills from `now - history` (the exchange's clock unless
    `now` is given; that costs one `fetch_time` request). Later runs: only candles after the
    newest stored one. Each page is validated and its clean candles upserted before the next
    page is fetched; rejected candles are counted in the report. A request that still fails
    after `retry` raises FetchFailed (a SourceError) with the report, after storing the pages
    before it.
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
    retry = retry or RetryPolicy()
    tf = pd.Timedelta(seconds=timeframe_seconds(key.timeframe))
    report_time = FetchReport(key=key)
    last = store.last_timestamp(key)
    if last is None:
        start_clock = now if now is not None else exchange_now(exchange, retry, sleep, report_time)
        since = (pd.Timestamp(start_clock) - history).floor(tf)
    else:
        since = last + tf

    rejected = Rejections()
    stored = 0

    def on_page(frame: pd.DataFrame) -> None:
        nonlocal rejected, stored
        clean, rejections = validate_candles(frame)
        rejected = rejected.merged(rejections)
        stored += store.upsert(key, clean)
        if progress is not None and len(frame):
            progress(since, pd.Timestamp(frame.index[-1]))

    def finish(report: FetchReport) -> FetchReport:
        report.requests += report_time.requests
        report.retries += report_time.retries
        report.rejected = rejected
        report.new_candles = stored
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
            sleep=sleep,
            recheck_gaps=recheck_gaps,
        )
    except FetchFailed as exc:
        finish(exc.report)
        raise
    return finish(report)
