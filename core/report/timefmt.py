"""Times as the report shows them: UTC, to the minute, with the zone named."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd


def utc(value: Any) -> pd.Timestamp | None:
    """`value` as a UTC Timestamp (naive values are taken as UTC); None for missing."""
    if value is None:
        return None
    stamp = pd.Timestamp(value)
    if stamp is pd.NaT:
        return None
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


def show(value: Any) -> str:
    """`2024-01-26 13:00 UTC`, or an en dash for a missing time."""
    stamp = utc(value)
    return "–" if stamp is None else stamp.strftime("%Y-%m-%d %H:%M UTC")


def plot_times(index: Any) -> np.ndarray:
    """Naive UTC timestamps for plotly (which would otherwise shift aware times)."""
    times = pd.DatetimeIndex(index)
    if times.tz is not None:
        times = times.tz_convert("UTC").tz_localize(None)
    return times.to_numpy()
