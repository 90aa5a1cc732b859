"""The exchange's clock: read from its time endpoint (`fetch_time`), then carried forward on the
local monotonic clock, so one reading serves a whole backfill.

Which candle is closed is decided from the exchange's clock, never from the HTTP `Date` header:
a proxy, a cache or a skewed front server can put that header hours away from the clock the
exchange's candles follow (fetching.py says how candles are judged without a reading).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import ccxt
import pandas as pd

from candlecast.core.market.candles import SeriesKey
from candlecast.core.market.fetch_report import FetchFailed, FetchReport
from candlecast.plugins.sources.ccxt.retry import Caller, GiveUp, RetryPolicy


@dataclass(frozen=True)
class ExchangeClock:
    """One reading of the exchange's clock (`read_ms`), taken at local `monotonic` time `at`."""

    read_ms: int
    at: float = field(default_factory=time.monotonic)
    monotonic: Callable[[], float] = time.monotonic

    def now_ms(self) -> int:
        """The exchange's time now: the reading plus the local time elapsed since it."""
        return self.read_ms + int((self.monotonic() - self.at) * 1000)

    @property
    def now(self) -> pd.Timestamp:
        return pd.Timestamp(self.now_ms(), unit="ms", tz="UTC")


def read_clock(
    exchange: ccxt.Exchange,
    retry: RetryPolicy | None = None,
    sleep: Callable[[float], None] = time.sleep,
    report: FetchReport | None = None,
) -> ExchangeClock | None:
    """The exchange's clock from its time endpoint (one request, retried); None when the
    exchange has no time endpoint (ccxt's `has["fetchTime"]`)."""
    if not exchange.has.get("fetchTime"):
        return None
    report = report or FetchReport(SeriesKey(exchange.id, "", ""))
    call = Caller(exchange, retry or RetryPolicy(), report, sleep)
    try:
        return ExchangeClock(int(call(f"fetch_time() on {exchange.id}", exchange.fetch_time)))
    except GiveUp as exc:
        report.error = str(exc)
        error = FetchFailed(f"could not read the clock of {exchange.id}: {exc}", report)
        error.rate_limited = exc.rate_limited
        raise error from exc.__cause__


def exchange_now(
    exchange: ccxt.Exchange,
    retry: RetryPolicy | None = None,
    sleep: Callable[[float], None] = time.sleep,
    report: FetchReport | None = None,
) -> pd.Timestamp:
    """The exchange's clock (`fetch_time`, retried), or the local clock where it has none."""
    clock = read_clock(exchange, retry, sleep, report)
    if clock is None:
        return pd.Timestamp(int(exchange.milliseconds()), unit="ms", tz="UTC")
    return clock.now
