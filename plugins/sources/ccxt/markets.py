"""Loading an exchange's markets, retried like every other request: transient failures (rate
limits, 5xx answers, timeouts, refused connections) are retried with backoff and the
exchange's `Retry-After`; a refusal or the last failure is a SourceError that says which."""

from __future__ import annotations

import time
from collections.abc import Callable

import ccxt

from candlecast.core.errors import SourceError
from candlecast.core.market.candles import SeriesKey
from candlecast.core.market.fetch_report import FetchReport
from candlecast.plugins.sources.ccxt.retry import Caller, GiveUp, RetryPolicy


def load_markets(
    exchange: ccxt.Exchange,
    retry: RetryPolicy | None = None,
    sleep: Callable[[float], None] = time.sleep,
    *,
    reload: bool = False,
) -> FetchReport:
    """Load the markets of `exchange` (ccxt keeps them; nothing is asked when they are loaded
    already, unless `reload`). Returns the requests and retries made, in a report."""
    report = FetchReport(SeriesKey(exchange.id, "", ""))
    if exchange.markets and not reload:
        report.completed = True
        return report
    call = Caller(exchange, retry or RetryPolicy(), report, sleep)
    try:
        call(f"the markets request to {exchange.id}", lambda: exchange.load_markets(reload))
    except GiveUp as exc:
        report.error = str(exc)
        error = SourceError(f"could not load the markets of {exchange.id}: {exc.detail}")
        error.rate_limited = exc.rate_limited
        raise error from exc.__cause__
    report.completed = True
    return report
