"""Fetching candles through ccxt: paginated, retried, de-duplicated, only closed candles.

`fetch_candles` walks `fetch_ohlcv` pages forward from `since` and hands each page of closed
candles to `on_page` as soon as it has it, so a failure later keeps what came before.
`sync_series` (sync.py) uses it to bring a stored series up to date: the first run backfills
`history`, later runs ask from a few candles before the newest stored one (the overlap, to pick
up corrections) in one request.

Which candle is closed is judged by the exchange's clock, never the local one nor the HTTP `Date`
header (a proxy or a skewed server can put that anywhere):
  - a candle is closed once the exchange serves a later one: a candle that opens at t exists
    only when the exchange's clock has reached t, so every candle that ends by t has closed;
  - a reading of the exchange's time endpoint (`clock`, taken on a backfill) closes candles
    that end before it, carried forward on the local monotonic clock;
  - `now=` fixes the decision time instead (candles closed at `now`, later ones ignored).
Without a clock, the newest candle an answer holds is not judged closed (on Binance it is the
open one): a full page's newest candle is asked for again as the first of the next page, the
newest candle of the last page is left for a later run. This costs no request.

A page with a gap is asked for once more (`recheck_gaps`): a candle that one answer left out is
recovered, a gap that is still there on the second ask is a real one (gaps.py fills or reports it
after loading). Gaps before `known_until` (candles fetched before, re-read as the overlap) are
not asked about again.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import ccxt
import numpy as np
import pandas as pd

from candlecast.core.errors import ConfigError
from candlecast.core.market.candles import SeriesKey, frame_from_ohlcv
from candlecast.core.market.fetch_report import FetchFailed, FetchReport
from candlecast.core.market.timeframes import timeframe_seconds
from candlecast.plugins.sources.ccxt.clock import ExchangeClock
from candlecast.plugins.sources.ccxt.retry import Caller, GiveUp, RetryPolicy

DEFAULT_PAGE_LIMIT = 500


def exchange_page_limit(exchange: ccxt.Exchange) -> int:
    """The most candles one `fetch_ohlcv` answer holds on `exchange` (ccxt's `features`)."""
    try:
        limit = exchange.features["spot"]["fetchOHLCV"]["limit"]
    except (AttributeError, KeyError, TypeError):
        limit = None
    return int(limit) if limit else DEFAULT_PAGE_LIMIT


def _ms(ts: pd.Timestamp) -> int:
    ts = pd.Timestamp(ts)
    if ts.tzinfo is None:
        raise ConfigError(f"timestamp {ts!r} must be tz-aware (UTC), got a naive one")
    return int(ts.value // 1_000_000)


def _ts(ms: int) -> pd.Timestamp:
    return pd.Timestamp(int(ms), unit="ms", tz="UTC")


def _rows(exchange: ccxt.Exchange, answer: Any, what: str) -> np.ndarray:
    """ccxt's OHLCV answer as an array `[n, 6]`; BadResponse (retried) when it is not one.

    ccxt turns a body that is not JSON into rows of None, and `since` then filters them all
    away: an empty answer is only trusted when the body it came from was JSON. A missing price
    or volume becomes NaN, for validation to reject.
    """
    if not isinstance(answer, list) or any(
        not isinstance(row, list | tuple)
        or len(row) < 6
        or isinstance(row[0], bool)
        or not isinstance(row[0], int | float)
        or not all(v is None or isinstance(v, int | float) for v in row[1:6])
        for row in answer
    ):
        raise ccxt.BadResponse(
            f"{what}: the answer is not a list of OHLCV rows: {str(answer)[:200]}"
        )
    if not answer:
        body = getattr(exchange, "last_http_response", None)
        if isinstance(body, str) and body.strip():
            try:
                json.loads(body)
            except ValueError:
                raise ccxt.BadResponse(
                    f"{what}: the answer is not JSON ({len(body)} characters: {body[:80]!r}...)"
                ) from None
        return np.empty((0, 6), dtype="float64")
    return np.asarray(
        [[np.nan if v is None else v for v in row[:6]] for row in answer], dtype="float64"
    )


def fetch_candles(
    exchange: ccxt.Exchange,
    key: SeriesKey,
    *,
    since: pd.Timestamp,
    until: pd.Timestamp | None = None,
    page_limit: int | None = None,
    on_page: Callable[[pd.DataFrame], None],
    retry: RetryPolicy | None = None,
    now: pd.Timestamp | None = None,
    clock: ExchangeClock | None = None,
    sleep: Callable[[float], None] = time.sleep,
    recheck_gaps: bool = True,
    known_until: pd.Timestamp | None = None,
) -> FetchReport:
    """Fetch the closed candles of `key` with `since <= open time < until`, page by page.

    Each page's candles (sorted, de-duplicated, closed only) go to `on_page` before the next
    page is asked for. `clock` is a reading of the exchange's clock (it closes the newest
    candle once its time has come); `now` fixes the decision time instead. Raises FetchFailed
    (a SourceError, with `.report`) when a request still fails after `retry`; the pages before
    it have been handed over.
    """
    retry = retry or RetryPolicy()
    limit = page_limit if page_limit is not None else exchange_page_limit(exchange)
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise ConfigError(f"page_limit must be a positive integer (candles), got {page_limit!r}")
    tf_ms = timeframe_seconds(key.timeframe) * 1000
    since_ms = _ms(since)
    until_ms = None if until is None else _ms(until)
    fixed_now = None if now is None else _ms(now)
    report = FetchReport(key=key, since=_ts(since_ms))
    call = Caller(exchange, retry, report, sleep)
    started = time.monotonic()

    def ask(start_ms: int, count: int) -> np.ndarray:
        what = f"fetch_ohlcv({key.symbol!r}, {key.timeframe!r}, since={_ts(start_ms).isoformat()})"
        return call(
            what,
            lambda: _rows(
                exchange,
                exchange.fetch_ohlcv(key.symbol, key.timeframe, since=start_ms, limit=count),
                what,
            ),
        )

    expected = -(-since_ms // tf_ms) * tf_ms  # the first open time on the grid at or after since
    gaps_from = expected if known_until is None else max(expected, _ms(known_until))
    cursor = since_ms
    served = -1  # the newest open time the exchange has served: its clock is past it
    try:
        while until_ms is None or cursor < until_ms:
            rows = ask(cursor, limit)
            report.pages += 1
            raw_count = len(rows)
            if raw_count == 0:
                break
            newest_raw = int(rows[:, 0].max())
            served = max(served, newest_raw)

            ts = rows[:, 0].astype("int64")
            keep = ts >= expected  # earlier ones: handed over already, or before since
            report.duplicates += int(((~keep) & (ts >= since_ms)).sum())
            page = rows[keep]
            page = page[np.argsort(page[:, 0], kind="stable")]
            page_ts = page[:, 0].astype("int64")
            first_of_run = np.concatenate([[True], page_ts[1:] != page_ts[:-1]])
            report.duplicates += int((~first_of_run).sum())
            page = page[first_of_run]

            # A page with a gap is asked for once more; what only the second answer has is
            # added (a candle the first answer left out), what neither has is a real gap.
            page_ts = page[:, 0].astype("int64")
            fresh = page_ts[page_ts >= gaps_from]
            if (
                recheck_gaps
                and len(fresh)
                and (np.diff(fresh, prepend=max(gaps_from, expected) - tf_ms) > tf_ms).any()
            ):
                report.gap_rechecks += 1
                again = ask(cursor, limit)
                again_ts = again[:, 0].astype("int64")
                found = again[
                    (again_ts >= expected) & (again_ts < page_ts[-1]) & ~np.isin(again_ts, page_ts)
                ]
                if len(found):
                    found = found[np.unique(found[:, 0], return_index=True)[1]]
                    report.recovered += len(found)
                    page = np.concatenate([page, found])
                    page = page[np.argsort(page[:, 0], kind="stable")]

            page_ts = page[:, 0].astype("int64")
            if fixed_now is not None:
                decided_by = fixed_now
            else:
                decided_by = max(served, clock.now_ms() if clock is not None else -1)
            closed = page_ts + tf_ms <= decided_by
            wanted = closed if until_ms is None else closed & (page_ts < until_ms)
            handed = page[wanted]
            if len(handed):
                frame = frame_from_ohlcv(handed)
                on_page(frame)
                report.new_candles += len(frame)
                if report.first is None:
                    report.first = frame.index[0]
                report.last = frame.index[-1]
                expected = int(handed[-1, 0]) + tf_ms

            undecided = int((~closed).sum())
            if undecided and fixed_now is None and clock is None and raw_count >= limit:
                # a full page's newest candle: the next page shows whether a later one exists
                next_cursor = int(page_ts[~closed][0])
            elif undecided:
                report.open_dropped += undecided
                break  # reached the open candle (or the newest, not known to be closed)
            else:
                next_cursor = max(newest_raw + tf_ms, expected)
                present = fixed_now if fixed_now is not None else clock and clock.now_ms()
                if raw_count < limit and (not present or newest_raw + 2 * tf_ms > present):
                    break  # a short page that reaches the present
            if until_ms is not None and next_cursor >= until_ms:
                break
            if next_cursor <= cursor:
                break  # the exchange is not moving forward
            cursor = next_cursor
            expected = max(expected, cursor)
    except GiveUp as exc:
        report.error = str(exc)
        report.elapsed_s = time.monotonic() - started
        got = (
            f"{report.new_candles} candle(s) up to {report.last.isoformat()} were handed over"
            if report.last is not None
            else "no candles were handed over"
        )
        error = FetchFailed(
            f"fetching {key} from {exchange.id} stopped: {exc}; {got}; the next run resumes there",
            report,
        )
        error.rate_limited = exc.rate_limited
        raise error from exc.__cause__
    report.completed = True
    report.elapsed_s = time.monotonic() - started
    return report
