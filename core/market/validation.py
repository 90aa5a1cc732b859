"""Candle validation: bad candles are rejected, counted and shown, never silently dropped.

`validate_candles(frame)` returns the clean candles and a `Rejections` record. Each rejected row
gets exactly one reason, the first that applies in this order:

  nan                   a price or the volume is NaN
  non_positive_price    open, high, low or close <= 0 (or infinite)
  negative_volume       volume < 0 (or infinite)
  high_below_open_close high < max(open, close)
  low_above_open_close  low > min(open, close)
  duplicate_timestamp   the same open time as an earlier row (the first one is kept)
  timestamp_out_of_order an open time earlier than an earlier row's

Timestamp checks run on the rows that passed the value checks, so a broken row never decides the
order of the good ones. The clean frame keeps the input order, which is then strictly increasing.

`check_candles(frame, neighbours)` is what sources call: these rules, then the plausibility
bounds of plausibility.py over the rows that passed, beside the stored neighbours:

  implausible_range     a high/low range out of all proportion to the neighbours'
  implausible_jump      a level that breaks away from every neighbour
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from candlecast.core.market.candles import OHLCV_COLUMNS, PRICE_COLUMNS, require_frame
from candlecast.core.market.plausibility import JUMP, RANGE, implausible_bars

REASONS = (
    "nan",
    "non_positive_price",
    "negative_volume",
    "high_below_open_close",
    "low_above_open_close",
    "duplicate_timestamp",
    "timestamp_out_of_order",
    "implausible_range",
    "implausible_jump",
)
MAX_EXAMPLES = 5


@dataclass
class Rejections:
    """What validation rejected: counts by reason and up to 5 example rows per reason."""

    checked: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    examples: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    @property
    def total(self) -> int:
        """Rows rejected, all reasons together."""
        return sum(self.counts.values())

    def __bool__(self) -> bool:
        return self.total > 0

    def merged(self, other: Rejections) -> Rejections:
        """Both records together (for a run that validates page by page)."""
        counts = dict(self.counts)
        examples = {reason: list(rows) for reason, rows in self.examples.items()}
        for reason, count in other.counts.items():
            counts[reason] = counts.get(reason, 0) + count
        for reason, rows in other.examples.items():
            kept = examples.setdefault(reason, [])
            kept.extend(rows[: max(0, MAX_EXAMPLES - len(kept))])
        ordered = {r: counts[r] for r in REASONS if r in counts}
        return Rejections(self.checked + other.checked, ordered, examples)

    def summary(self) -> str:
        """One line: `rejected 3 of 500 candles: 2 nan, 1 negative_volume`."""
        if not self.total:
            return f"no candles rejected ({self.checked} checked)"
        parts = ", ".join(f"{count} {reason}" for reason, count in self.counts.items())
        return f"rejected {self.total} of {self.checked} candles: {parts}"


def _example(timestamp: pd.Timestamp, row: Mapping[str, Any]) -> dict[str, Any]:
    return {"timestamp": timestamp, **{c: float(row[c]) for c in OHLCV_COLUMNS}}


def validate_candles(frame: pd.DataFrame) -> tuple[pd.DataFrame, Rejections]:
    """Split `frame` into clean candles and a record of what was rejected and why."""
    frame = require_frame(frame)
    n = len(frame)
    values = frame[list(OHLCV_COLUMNS)].to_numpy(dtype="float64")
    o, h, lo, c, v = (values[:, i] for i in range(5))
    prices = values[:, : len(PRICE_COLUMNS)]

    reason = np.full(n, -1, dtype="int64")  # index into REASONS, -1 = clean

    def mark(mask: np.ndarray, code: int) -> None:
        reason[(reason < 0) & mask] = code

    with np.errstate(invalid="ignore"):
        mark(np.isnan(values).any(axis=1), 0)
        mark(~(np.isfinite(prices) & (prices > 0)).all(axis=1), 1)
        mark(~np.isfinite(v) | (v < 0), 2)
        mark(h < np.maximum(o, c), 3)
        mark(lo > np.minimum(o, c), 4)

    # Timestamp checks over the rows whose values are fine.
    passed = np.flatnonzero(reason < 0)
    ts = frame.index.asi8[passed]
    duplicate = pd.Index(ts).duplicated(keep="first")
    reason[passed[duplicate]] = 5
    unique_pos = passed[~duplicate]
    unique_ts = frame.index.asi8[unique_pos]
    if len(unique_ts) > 1:
        # Out-of-order rows never raise the running maximum, so "later than every earlier KEPT
        # row" is the same as "not earlier than the maximum of all earlier rows".
        earlier_max = np.maximum.accumulate(unique_ts)[:-1]
        out = np.concatenate([[False], unique_ts[1:] < earlier_max])
        reason[unique_pos[out]] = 6

    counts: dict[str, int] = {}
    examples: dict[str, list[dict[str, Any]]] = {}
    for code, name in enumerate(REASONS):
        positions = np.flatnonzero(reason == code)
        if len(positions) == 0:
            continue
        counts[name] = len(positions)
        examples[name] = [_example(frame.index[p], frame.iloc[p]) for p in positions[:MAX_EXAMPLES]]
    clean = frame.iloc[np.flatnonzero(reason < 0)]
    return clean, Rejections(n, counts, examples)


def check_candles(
    frame: pd.DataFrame, neighbours: pd.DataFrame | None = None
) -> tuple[pd.DataFrame, Rejections]:
    """`validate_candles`, then the plausibility bounds over the rows that passed it, judged
    beside `neighbours` (trusted, stored candles around `frame`; not judged themselves)."""
    clean, rejections = validate_candles(frame)
    verdict = implausible_bars(clean, neighbours)
    if not verdict.any():
        return clean, rejections
    counts: dict[str, int] = {}
    examples: dict[str, list[dict[str, Any]]] = {}
    for code, name in ((RANGE, "implausible_range"), (JUMP, "implausible_jump")):
        positions = np.flatnonzero(verdict == code)
        if len(positions):
            counts[name] = len(positions)
            examples[name] = [
                _example(clean.index[p], clean.iloc[p]) for p in positions[:MAX_EXAMPLES]
            ]
    implausible = Rejections(0, counts, examples)  # rows counted as checked once, above
    return clean.iloc[np.flatnonzero(verdict == 0)], rejections.merged(implausible)
