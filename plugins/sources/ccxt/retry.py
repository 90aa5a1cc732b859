"""Retrying exchange requests: which ccxt errors may pass, the backoff with jitter, the
exchange's own `Retry-After`, and a caller that counts requests and retries into a report."""

from __future__ import annotations

import email.utils
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import ccxt

from candlecast.core.errors import ConfigError
from candlecast.core.market.fetch_report import FetchReport

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


class Caller:
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
                    raise GiveUp(
                        what,
                        f"the exchange asked to wait {asked:.0f} s (Retry-After), longer than "
                        f"max_delay={self.retry.max_delay} s ({describe(exc)})",
                        exc,
                    ) from exc
                if attempt == self.retry.attempts:
                    raise GiveUp(
                        what, f"failed after {attempt} attempt(s): {describe(exc)}", exc
                    ) from exc
                self.report.retries += 1
                self.sleep(max(self.retry.backoff(attempt), asked or 0.0))
            except ccxt.BaseError as exc:
                raise GiveUp(what, f"was refused: {describe(exc)}", exc) from exc
        raise AssertionError("unreachable")  # the loop returns or raises


class GiveUp(Exception):
    """A request that failed for good: `what` it was, `detail` (how it failed, the error and its
    cause), `last` (the final error)."""

    def __init__(self, what: str, detail: str, last: BaseException) -> None:
        sep = ": " if detail.startswith("the exchange asked") else " "
        super().__init__(f"{what}{sep}{detail}")
        self.what, self.detail, self.last = what, detail, last

    @property
    def rate_limited(self) -> bool:
        """The exchange was reached and kept asking to slow down (HTTP 429/418)."""
        return isinstance(self.last, ccxt.DDoSProtection | ccxt.RateLimitExceeded)


def _chain(exc: BaseException) -> list[BaseException]:
    """`exc` and what caused it, outermost first (`__cause__`, else `__context__`)."""
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and all(current is not seen for seen in chain):
        chain.append(current)
        current = current.__cause__ or current.__context__
    return chain


def cause(exc: BaseException) -> str | None:
    """Why a request failed, in words, from deep in the error chain: ccxt's network errors
    name only the request (`binance GET http://...`); the reason ("connection refused",
    "HTTP 503 Service Unavailable", "timed out") is what raised it."""
    chain = _chain(exc)
    for inner in chain[1:]:
        response = getattr(inner, "response", None)
        status = getattr(response, "status_code", None)
        if isinstance(status, int):
            return f"HTTP {status} {getattr(response, 'reason', '') or ''}".strip()
    root = chain[-1]
    if root is exc:
        return None
    if isinstance(root, OSError) and root.strerror:
        return root.strerror[0].lower() + root.strerror[1:]  # "Connection refused"
    return str(root) or type(root).__name__


def describe(exc: BaseException) -> str:
    """`Type: message (cause)`, the cause left out when the message already says it."""
    text = f"{type(exc).__name__}: {exc}"
    reason = cause(exc)
    said = reason is not None and (
        reason.lower() in text.lower()
        or (reason.startswith("HTTP ") and f" {reason.split()[1]} " in f" {text} ")
    )
    if reason and not said:
        text += f" ({reason})"
    return text
