"""Gaps: missing candles between two candles of a series.

`fill_gaps` fills short gaps (up to `max_gap` missing candles in a row) with synthetic candles:
open = high = low = close = the previous close, volume 0, `synthetic` True. A longer gap is not
filled: with `on_long_gap="split"` the series keeps its newest contiguous part (everything after
the last long gap) and the report says what was dropped; with `"fail"` it raises DataError naming
the gap.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd

from candlecast.core.errors import ConfigError, DataError
from candlecast.core.market.candles import require_frame
from candlecast.core.market.timeframes import timeframe_offset

LongGapPolicy = Literal["split", "fail"]
LONG_GAP_POLICIES = ("split", "fail")


@dataclass(frozen=True)
class Gap:
    """Missing candles: open times `start` .. `end` (both missing), `missing` of them."""

    start: pd.Timestamp
    end: pd.Timestamp
    missing: int
    filled: bool


@dataclass
class GapReport:
    """The gaps found, which were filled, and what a split dropped."""

    timeframe: str
    max_gap: int
    gaps: list[Gap] = field(default_factory=list)
    dropped_candles: int = 0
    dropped_until: pd.Timestamp | None = None  # open time of the last dropped candle

    @property
    def filled_candles(self) -> int:
        return sum(g.missing for g in self.gaps if g.filled)

    @property
    def long_gaps(self) -> list[Gap]:
        return [g for g in self.gaps if not g.filled]

    def summary(self) -> str:
        """One line, for logs and reports."""
        if not self.gaps:
            return "no gaps"
        filled = [g for g in self.gaps if g.filled]
        parts = []
        if filled:
            parts.append(f"{self.filled_candles} candle(s) filled in {len(filled)} gap(s)")
        for gap in self.long_gaps:
            parts.append(
                f"gap of {gap.missing} candles from {gap.start.isoformat()} to "
                f"{gap.end.isoformat()} not filled (max_gap={self.max_gap})"
            )
        if self.dropped_candles:
            parts.append(
                f"series split: {self.dropped_candles} candle(s) up to "
                f"{self.dropped_until.isoformat() if self.dropped_until else '?'} dropped"
            )
        return "; ".join(parts)


def _check_arguments(timeframe: str, max_gap: int, on_long_gap: str) -> pd.Timedelta:
    step = timeframe_offset(timeframe)
    if isinstance(max_gap, bool) or not isinstance(max_gap, int | np.integer) or max_gap < 0:
        raise ConfigError(f"max_gap must be a non-negative integer (candles), got {max_gap!r}")
    if on_long_gap not in LONG_GAP_POLICIES:
        raise ConfigError(
            f"on_long_gap must be one of {', '.join(LONG_GAP_POLICIES)}, got {on_long_gap!r}"
        )
    return step


def fill_gaps(
    frame: pd.DataFrame,
    timeframe: str,
    max_gap: int,
    on_long_gap: LongGapPolicy = "split",
) -> tuple[pd.DataFrame, GapReport]:
    """Fill gaps of up to `max_gap` candles; split at or fail on longer ones.

    `frame` must be a candle frame with strictly increasing open times on the timeframe's grid
    (as `validate_candles` leaves it).
    """
    step = _check_arguments(timeframe, max_gap, on_long_gap)
    frame = require_frame(frame)
    report = GapReport(timeframe=timeframe, max_gap=int(max_gap))
    if len(frame) < 2:
        return frame, report

    index = pd.DatetimeIndex(frame.index)
    deltas = index[1:] - index[:-1]
    not_increasing = np.asarray(deltas <= pd.Timedelta(0))
    if not_increasing.any():
        at = int(np.flatnonzero(not_increasing)[0]) + 1
        raise DataError(
            f"candle open times must be strictly increasing to find gaps; row {at} "
            f"({index[at].isoformat()}) follows {index[at - 1].isoformat()}"
        )
    off_grid = np.asarray(deltas % step != pd.Timedelta(0))
    if off_grid.any():
        at = int(np.flatnonzero(off_grid)[0]) + 1
        raise DataError(
            f"candle open times must be whole {timeframe} steps apart; {index[at].isoformat()} "
            f"is {deltas[at - 1]} after {index[at - 1].isoformat()}"
        )

    missing = np.asarray(deltas // step, dtype="int64") - 1  # per consecutive pair
    gap_after = np.flatnonzero(missing > 0)  # position of the candle before each gap
    long_after = [int(p) for p in gap_after if missing[p] > max_gap]

    for p in long_after:
        gap = Gap(index[p] + step, index[p + 1] - step, int(missing[p]), filled=False)
        report.gaps.append(gap)
    if long_after and on_long_gap == "fail":
        first = report.gaps[0]
        raise DataError(
            f"gap of {first.missing} missing {timeframe} candles from {first.start.isoformat()} "
            f"to {first.end.isoformat()} is longer than max_gap={max_gap}"
            + (f" ({len(long_after)} such gaps)" if len(long_after) > 1 else "")
            + "; raise max_gap or use on_long_gap='split'"
        )
    cut = long_after[-1] + 1 if long_after else 0
    if cut:
        report.dropped_candles = cut
        report.dropped_until = index[cut - 1]
        frame = frame.iloc[cut:]
        index = index[cut:]

    short_after = [int(p) for p in gap_after if p >= cut and missing[p] <= max_gap]
    if not short_after:
        return frame, report

    fills = []
    for p in short_after:
        local = p - cut
        count = int(missing[p])
        start = index[local] + step
        times = pd.date_range(start, periods=count, freq=step, name="timestamp")
        close = float(frame["close"].iloc[local])
        filler = pd.DataFrame(
            {"open": close, "high": close, "low": close, "close": close, "volume": 0.0},
            index=times,
        )
        filler["synthetic"] = True
        fills.append(filler)
        report.gaps.append(Gap(times[0], times[-1], count, filled=True))

    filled = pd.concat([frame, *fills]).sort_index()
    filled.index = pd.DatetimeIndex(filled.index, name="timestamp")
    filled["synthetic"] = filled["synthetic"].astype(bool)
    report.gaps.sort(key=lambda g: g.start)
    return filled, report
