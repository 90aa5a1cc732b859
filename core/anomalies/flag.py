"""What a detector reports: one flag per anomalous candle, and events made of flags."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import pandas as pd

from candlecast.core.errors import DataError

Severity = Literal["info", "warning", "critical"]
SEVERITIES: tuple[Severity, ...] = ("info", "warning", "critical")


def severity_rank(severity: str) -> int:
    """0 for info, 1 for warning, 2 for critical."""
    if severity not in SEVERITIES:
        raise DataError(f"severity must be one of {', '.join(SEVERITIES)}, got {severity!r}")
    return SEVERITIES.index(severity)  # type: ignore[arg-type]


def utc_timestamp(value: object, what: str) -> pd.Timestamp:
    """`value` as a tz-aware UTC Timestamp; naive or unparsable values are rejected."""
    try:
        stamp = pd.Timestamp(value)  # type: ignore[arg-type]
    except (TypeError, ValueError) as exc:
        raise DataError(f"{what} must be a timestamp, got {value!r}") from exc
    if stamp is pd.NaT or stamp.tzinfo is None:
        raise DataError(f"{what} must be a tz-aware UTC timestamp, got {value!r}")
    return stamp.tz_convert("UTC")


@dataclass(frozen=True)
class Flag:
    """One candle that a detector found anomalous.

    `score` and `threshold` are in the detector's own units (a robust z-score, a ratio, ...):
    the candle is flagged because score >= threshold, and `reason` says so in one sentence.
    """

    series: str
    timestamp: pd.Timestamp
    kind: str
    detector: str
    score: float
    threshold: float
    severity: Severity
    reason: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "timestamp", utc_timestamp(self.timestamp, "flag timestamp"))
        severity_rank(self.severity)
        for name in ("score", "threshold"):
            value = getattr(self, name)
            if not isinstance(value, int | float) or not math.isfinite(value):
                raise DataError(f"flag {name} must be a finite number, got {value!r}")
            object.__setattr__(self, name, float(value))
        for name in ("series", "kind", "detector", "reason"):
            if not isinstance(getattr(self, name), str) or not getattr(self, name):
                raise DataError(
                    f"flag {name} must be a non-empty string, got {getattr(self, name)!r}"
                )


@dataclass(frozen=True)
class AnomalyEvent:
    """Consecutive flags of one kind on one series: `start`..`end` (candle open times).

    `open` means the event reached the newest judged candle and may continue in the next run;
    `(series, kind, start)` identifies it across runs.
    """

    series: str
    kind: str
    start: pd.Timestamp
    end: pd.Timestamp
    peak_score: float
    severity: Severity
    flag_count: int
    open: bool

    def __post_init__(self) -> None:
        start = utc_timestamp(self.start, "event start")
        end = utc_timestamp(self.end, "event end")
        if end < start:
            raise DataError(f"event end {end} is before its start {start}")
        object.__setattr__(self, "start", start)
        object.__setattr__(self, "end", end)
        severity_rank(self.severity)
        if self.flag_count < 1:
            raise DataError(f"event flag_count must be at least 1, got {self.flag_count!r}")
