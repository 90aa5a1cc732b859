"""Fetching candles through ccxt: paginated, retried, de-duplicated, only closed candles.

`fetch_candles` walks `fetch_ohlcv` pages forward from `since` and hands each page of new closed
candles to `on_page` as soon as it has it, so a failure later keeps what came before.
`sync_series` uses it to bring a stored series up to date: the first run backfills `history`,
later runs ask only for candles after the newest stored one (with nothing new: one request).

Which candle is still open is judged by the exchange's clock (the `Date` header of its answer),
not the local one; `now=` overrides both. A page with a gap is asked for once more
(`recheck_gaps`): a candle that one answer left out is recovered, a gap that is still there on
the second ask is a real one (gaps.py fills or reports it after loading).
"""

from __future__ import annotations

import email.utils
import json
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import ccxt
import numpy as np
import pandas as pd

from candlecast.core.candles import SeriesKey, frame_from_ohlcv
from candlecast.core.errors import ConfigError, SourceError
from candlecast.core.storage.candle_store import CandleStore
from candlecast.core.timeframes import timeframe_seconds
from candlecast.core.validation import Rejections, validate_candles

T = TypeVar("T")

# ccxt's "try again later" errors. OperationFailed is their common parent in ccxt's hierarchy
# (the other branch, ExchangeError, means "this request is wrong"): Binance's -1001 internal
# error arrives as a bare OperationFailed, a malformed answer as BadResponse.
RETRYABLE: tuple[type[BaseException], ...] = (
    ccxt.NetworkError,
    ccxt.RateLimitExceeded,
    ccxt.ExchangeNotAvailable,
    ccxt.RequestTimeout,
    ccxt.DDoSProtection,
    ccxt.OperationFailed,
)
DEFAULT_PAGE_LIMIT = 500


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently to retry one request.

    `attempts` counts the first try. The n-th retry waits `base_delay * 2**(n-1)` seconds, at
    most `max_delay`, times a random factor in [1 - jitter, 1 + jitter]. A rate-limit answer's
    `Retry-After` is honoured (waited at least), unless it asks for more than `max_delay`: then
    the request fails at once rather than sleeping past the schedule.
    """

    attempts: int = 5
    base_delay: float = 1.0
    max_delay: float = 60.0
    jitter: float = 0.2
    seed: int | None = None
    retry_on: tuple[type[BaseException], ...] = RETRYABLE

    def __post_init__(self) -> None:
        if (
            isinstance(self.attempts, bool)
            or not isinstance(self.attempts, int)
            or self.attempts < 1
        ):
            raise ConfigError(f"retry attempts must be an integer >= 1, got {self.attempts!r}")
        if self.base_delay < 0 or self.max_delay < 0:
            raise ConfigError(
                f"retry delays must be >= 0 seconds, got base_delay={self.base_delay!r}, "
                f"max_delay={self.max_delay!r}"
            )
        if not 0 <= self.jitter < 1:
            raise ConfigError(f"retry jitter must be in [0, 1), got {self.jitter!r}")
        object.__setattr__(self, "_rng", random.Random(self.seed))

    def backoff(self, retry: int) -> float:
        """Seconds to wait before retry number `retry` (1-based), jitter included."""
        delay = min(self.max_delay, self.base_delay * 2 ** (retry - 1))
        rng: random.Random = object.__getattribute__(self, "_rng")
        return delay * (1 + rng.uniform(-self.jitter, self.jitter))


@dataclass
class FetchReport:
    """What one fetch or sync did: requests, pages, candles, rejections, retries, how far."""

    key: SeriesKey
    since: pd.Timestamp | None = None
    requests: int = 0
    pages: int = 0
    new_candles: int = 0
    rejected: Rejections = field(default_factory=Rejections)
    retries: int = 0
    first: pd.Timestamp | None = None  # oldest candle fetched (open time)
    last: pd.Timestamp | None = None  # newest candle fetched (open time)
    elapsed_s: float = 0.0
    duplicates: int = 0  # repeated candles dropped
    open_dropped: int = 0  # still-open candles seen and not kept
    gap_rechecks: int = 0  # pages asked for again because they had a gap
    recovered: int = 0  # candles that only the re-ask returned
    completed: bool = False
    error: str | None = None

    def summary(self) -> str:
        span = (
            f"{self.first.isoformat()} .. {self.last.isoformat()}"
            if self.first is not None and self.last is not None
            else "-"
        )
        text = (
            f"{self.key}: {self.new_candles} new candle(s) [{span}] in {self.requests} request(s), "
            f"{self.pages} page(s), {self.retries} retr{'y' if self.retries == 1 else 'ies'}, "
            f"{self.elapsed_s:.2f} s"
        )
        if self.rejected:
            text += f"; {self.rejected.summary()}"
        if self.duplicates:
            text += f"; {self.duplicates} duplicate(s) dropped"
        if self.recovered:
            text += f"; {self.recovered} candle(s) recovered on re-ask"
        if self.error:
            text += f"; FAILED: {self.error}"
        return text


class FetchFailed(SourceError):
    """A fetch that still failed after its retries; `.report` says how far it got."""

    def __init__(self, message: str, report: FetchReport) -> None:
        super().__init__(message)
        self.report = report


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


def _retry_after(exchange: ccxt.Exchange, exc: BaseException) -> float | None:
    """Seconds a rate-limit answer asked us to wait (`Retry-After`), if it said."""
    if not isinstance(exc, ccxt.DDoSProtection | ccxt.RateLimitExceeded):
        return None  # other failures leave the previous answer's headers in place
    headers = getattr(exchange, "last_response_headers", None) or {}
    value = headers.get("Retry-After") if hasattr(headers, "get") else None
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        return max(0.0, when.timestamp() - time.time())


def _server_now_ms(exchange: ccxt.Exchange) -> int | None:
    """The exchange's clock from its last answer's `Date` header (None when absent)."""
    headers = getattr(exchange, "last_response_headers", None) or {}
    value = headers.get("Date") if hasattr(headers, "get") else None
    if not value:
        return None
    try:
        return int(email.utils.parsedate_to_datetime(value).timestamp() * 1000)
    except (TypeError, ValueError):
        return None


class _Caller:
    """Runs exchange calls under a RetryPolicy, counting requests and retries into a report."""

    def __init__(
        self,
        exchange: ccxt.Exchange,
        retry: RetryPolicy,
        report: FetchReport,
        sleep: Callable[[float], None],
    ) -> None:
        self.exchange, self.retry, self.report, self.sleep = exchange, retry, report, sleep

    def __call__(self, what: str, fn: Callable[[], T]) -> T:
        for attempt in range(1, self.retry.attempts + 1):
            self.report.requests += 1
            try:
                return fn()
            except self.retry.retry_on as exc:
                asked = _retry_after(self.exchange, exc)
                if asked is not None and asked > self.retry.max_delay:
                    raise _GiveUp(
                        f"{what}: the exchange asked to wait {asked:.0f} s (Retry-After), longer "
                        f"than max_delay={self.retry.max_delay} s ({type(exc).__name__}: {exc})"
                    ) from exc
                if attempt == self.retry.attempts:
                    raise _GiveUp(
                        f"{what} failed after {attempt} attempt(s): {type(exc).__name__}: {exc}"
                    ) from exc
                self.report.retries += 1
                self.sleep(max(self.retry.backoff(attempt), asked or 0.0))
            except ccxt.BaseError as exc:
                raise _GiveUp(f"{what} was refused: {type(exc).__name__}: {exc}") from exc
        raise AssertionError("unreachable")  # the loop returns or raises


class _GiveUp(Exception):
    pass


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
    sleep: Callable[[float], None] = time.sleep,
    recheck_gaps: bool = True,
) -> FetchReport:
    """Fetch the closed candles of `key` with `since <= open time < until`, page by page.

    Each page's new candles (sorted, de-duplicated, closed only) go to `on_page` before the next
    page is asked for. Raises FetchFailed (a SourceError, with `.report`) when a request still
    fails after `retry`; the pages before it have been handed over.
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
    call = _Caller(exchange, retry, report, sleep)
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
    cursor = since_ms
    try:
        while until_ms is None or cursor < until_ms:
            rows = ask(cursor, limit)
            report.pages += 1
            server_now = fixed_now or _server_now_ms(exchange) or int(exchange.milliseconds())
            raw_count = len(rows)
            if raw_count == 0:
                break
            newest_raw = int(rows[:, 0].max())

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
            if (
                recheck_gaps
                and len(page_ts)
                and (np.diff(page_ts, prepend=expected - tf_ms) > tf_ms).any()
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
            closed = page_ts + tf_ms <= server_now
            report.open_dropped += int((~closed).sum())
            wanted = closed if until_ms is None else closed & (page_ts < until_ms)
            page = page[wanted]
            if len(page):
                frame = frame_from_ohlcv(page)
                on_page(frame)
                report.new_candles += len(frame)
                if report.first is None:
                    report.first = frame.index[0]
                report.last = frame.index[-1]
                expected = int(page[-1, 0]) + tf_ms

            if not closed.all():
                break  # reached the open candle: nothing newer is closed
            next_cursor = max(newest_raw + tf_ms, expected)
            if until_ms is not None and next_cursor >= until_ms:
                break
            if raw_count < limit and newest_raw + 2 * tf_ms > server_now:
                break  # a short page that reaches the present
            if next_cursor <= cursor:
                break  # the exchange is not moving forward
            cursor = next_cursor
            expected = max(expected, cursor)
    except _GiveUp as exc:
        report.error = str(exc)
        report.elapsed_s = time.monotonic() - started
        got = (
            f"{report.new_candles} candle(s) up to {report.last.isoformat()} were handed over"
            if report.last is not None
            else "no candles were handed over"
        )
        raise FetchFailed(
            f"fetching {key} from {exchange.id} stopped: {exc}; {got}; the next run resumes there",
            report,
        ) from exc.__cause__
    report.completed = True
    report.elapsed_s = time.monotonic() - started
    return report


def exchange_now(
    exchange: ccxt.Exchange,
    retry: RetryPolicy | None = None,
    sleep: Callable[[float], None] = time.sleep,
    report: FetchReport | None = None,
) -> pd.Timestamp:
    """The exchange's clock (`fetch_time`, retried), or the local clock where it has none."""
    if not exchange.has.get("fetchTime"):
        return _ts(int(exchange.milliseconds()))
    report = report or FetchReport(SeriesKey(exchange.id, "", ""))
    call = _Caller(exchange, retry or RetryPolicy(), report, sleep)
    try:
        return _ts(int(call(f"fetch_time() on {exchange.id}", exchange.fetch_time)))
    except _GiveUp as exc:
        report.error = str(exc)
        raise FetchFailed(
            f"could not read the clock of {exchange.id}: {exc}", report
        ) from exc.__cause__


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
