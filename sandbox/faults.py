"""Faults the sandbox exchange can inject, and the seeded injector that decides when they fire.

A fault fires on requests to one endpoint (`klines` by default, `*` for any): either the next
`times` matching requests, or each matching request with probability `probability` (seeded, so a
run is repeatable). `after` skips that many matching requests first ("fail the third page").

Kinds:
  rate_limit    HTTP 429 with `Retry-After: <retry_after>` and Binance's -1003 error JSON
  server_error  HTTP `status` (5xx) with Binance's -1001 "internal error" JSON
  slow          the answer is held back `delay` seconds (a client with a shorter timeout gives up)
  truncated     the headers promise the whole body, half of it is sent, the connection closes
  malformed     half the body is sent under a Content-Length that matches it (broken JSON)
  duplicate     a klines page repeats one of its candles (the page keeps its length)
  missing       a klines page lacks one of its candles from the middle
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass, field, replace
from typing import Any

from candlecast.core.errors import ConfigError

FAULT_KINDS = (
    "rate_limit",
    "server_error",
    "slow",
    "truncated",
    "malformed",
    "duplicate",
    "missing",
)
PAGE_FAULTS = ("duplicate", "missing")
ENDPOINTS = ("klines", "exchangeInfo", "time", "ping", "*")


@dataclass(frozen=True)
class Fault:
    """One fault and when it fires; `times` and `probability` exclude each other (default once)."""

    kind: str
    times: int | None = None
    probability: float | None = None
    endpoint: str = "klines"
    after: int = 0
    retry_after: int = 1
    status: int = 503
    delay: float = 2.0

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ConfigError(
                f"fault kind {self.kind!r} is unknown; use one of {', '.join(FAULT_KINDS)}"
            )
        if self.endpoint not in ENDPOINTS:
            raise ConfigError(
                f"fault endpoint {self.endpoint!r} is unknown; use one of {', '.join(ENDPOINTS)}"
            )
        if self.kind in PAGE_FAULTS and self.endpoint != "klines":
            raise ConfigError(f"fault {self.kind!r} changes a klines page; endpoint must be klines")
        if self.times is not None and self.probability is not None:
            raise ConfigError(
                f"fault {self.kind!r} takes times or probability, not both "
                f"(got times={self.times}, probability={self.probability})"
            )
        if self.times is None and self.probability is None:
            object.__setattr__(self, "times", 1)
        if self.times is not None and (not isinstance(self.times, int) or self.times < 1):
            raise ConfigError(
                f"fault {self.kind!r}: times must be a positive integer, got {self.times!r}"
            )
        if self.probability is not None and not 0.0 < self.probability <= 1.0:
            raise ConfigError(
                f"fault {self.kind!r}: probability must be in (0, 1], got {self.probability!r}"
            )
        if not isinstance(self.after, int) or self.after < 0:
            raise ConfigError(
                f"fault {self.kind!r}: after must be an integer >= 0, got {self.after!r}"
            )
        if not isinstance(self.retry_after, int) or self.retry_after < 0:
            raise ConfigError(
                f"fault {self.kind!r}: retry_after must be whole seconds >= 0, got {self.retry_after!r}"
            )
        if not 500 <= self.status <= 599:
            raise ConfigError(
                f"fault {self.kind!r}: status must be a 5xx code, got {self.status!r}"
            )
        if self.delay < 0:
            raise ConfigError(
                f"fault {self.kind!r}: delay must be >= 0 seconds, got {self.delay!r}"
            )

    def describe(self) -> str:
        when = f"p={self.probability}" if self.probability is not None else f"times={self.times}"
        return f"{self.kind}:{when},endpoint={self.endpoint},after={self.after}"


_FIELDS: dict[str, tuple[str, type]] = {
    "times": ("times", int),
    "n": ("times", int),
    "p": ("probability", float),
    "probability": ("probability", float),
    "endpoint": ("endpoint", str),
    "after": ("after", int),
    "retry_after": ("retry_after", int),
    "status": ("status", int),
    "delay": ("delay", float),
}


def parse_fault(text: str) -> Fault:
    """`"rate_limit:times=3,retry_after=2"` or `"slow:p=0.1,delay=1.5"` -> Fault (CLI syntax)."""
    kind, _, options = text.strip().partition(":")
    values: dict[str, Any] = {}
    for item in filter(None, (part.strip() for part in options.split(","))):
        name, sep, value = item.partition("=")
        if not sep or name.strip() not in _FIELDS:
            raise ConfigError(
                f"fault option {item!r} in {text!r} is not NAME=VALUE with NAME one of "
                f"{', '.join(_FIELDS)}"
            )
        target, cast = _FIELDS[name.strip()]
        try:
            values[target] = cast(value.strip())
        except ValueError:
            raise ConfigError(
                f"fault option {name.strip()}={value.strip()!r} in {text!r} is not a {cast.__name__}"
            ) from None
    return Fault(kind.strip(), **values)


@dataclass
class _Armed:
    fault: Fault
    seen: int = 0
    fired: int = 0


@dataclass
class FaultInjector:
    """Thread-safe: decides per request which armed fault (if any) fires."""

    seed: int = 0
    _armed: list[_Armed] = field(default_factory=list)
    fired: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._rng = random.Random(self.seed)

    def add(self, fault: Fault | str) -> Fault:
        fault = parse_fault(fault) if isinstance(fault, str) else replace(fault)
        with self._lock:
            self._armed.append(_Armed(fault))
        return fault

    def clear(self) -> None:
        with self._lock:
            self._armed.clear()

    def pending(self) -> list[str]:
        """The faults that can still fire, described."""
        with self._lock:
            return [
                a.fault.describe()
                for a in self._armed
                if a.fault.probability is not None or a.fired < (a.fault.times or 0)
            ]

    def pick(self, endpoint: str, page_rows: int | None = None) -> Fault | None:
        """The fault to apply to this request, or None. Page faults need a page of 3+ candles."""
        with self._lock:
            for armed in self._armed:
                fault = armed.fault
                if fault.endpoint not in ("*", endpoint):
                    continue
                if fault.kind in PAGE_FAULTS and (page_rows is None or page_rows < 3):
                    continue
                if fault.times is not None and armed.fired >= fault.times:
                    continue
                armed.seen += 1
                if armed.seen <= fault.after:
                    continue
                if fault.probability is not None and self._rng.random() >= fault.probability:
                    continue
                armed.fired += 1
                self.fired[fault.kind] = self.fired.get(fault.kind, 0) + 1
                return fault
        return None
