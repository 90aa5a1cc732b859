"""Whether a candle file fits the series' timeframe, before anything of it is stored.

candlecast stamps a candle with its OPEN time, on the timeframe's grid (00:00, 01:00, ... UTC for
1h; midnight UTC for 1d; one weekday at midnight for 1w). A file is checked in two steps:

  spacing  the most common step between consecutive rows must be the timeframe: a file of 4h or
           daily candles under `--timeframe 1h` is refused, naming both (gaps do not matter);
  grid     every stamp must be an open time. A file stamped at candle CLOSE times -- every stamp
           1 ms or 1 s before the grid, as exports carrying Binance's `closeTime` are
           (`00:59:59` for the 00:00-01:00 candle) -- is moved to open times, and a note says so;
           any other stamp off the grid is refused with the convention named.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from candlecast.core.errors import DataError
from candlecast.core.market.timeframes import (
    DAY_MS,
    WEEK_MS,
    grid_unit_ms,
    off_grid,
    timeframe_seconds,
)

CLOSE_STAMP_OFFSETS_MS = (1, 1000)  # close-time exports stamp 1 ms or 1 s before the next open
_UNITS = ((WEEK_MS, "w"), (DAY_MS, "d"), (3_600_000, "h"), (60_000, "m"), (1000, "s"))


def duration_name(ms: int) -> str:
    """`3_600_000` -> "1h", `14_400_000` -> "4h", `86_400_000` -> "1d", `5_400_000` -> "90m"."""
    for unit, suffix in _UNITS:
        if ms % unit == 0:
            return f"{ms // unit}{suffix}"
    return f"{ms} ms"


def usual_step_ms(ms: np.ndarray) -> tuple[int, int, int] | None:
    """(the most common step between consecutive stamps, how many steps have it, all steps);
    None for fewer than three rows (too few to tell a gap from a spacing)."""
    steps = np.diff(np.asarray(ms, dtype="int64"))
    if len(steps) < 2:
        return None
    values, counts = np.unique(steps, return_counts=True)
    best = int(np.argmax(counts))  # ties: the shorter step
    return int(values[best]), int(counts[best]), len(steps)


def fit_timeframe(
    frame: pd.DataFrame, timeframe: str, name: str
) -> tuple[pd.DataFrame, str | None]:
    """`frame` (read from file `name`) checked against `timeframe`: (the frame on the grid of
    open times, a note when its stamps were moved there). DataError when it does not fit."""
    tf_ms = timeframe_seconds(timeframe) * 1000
    ms = pd.DatetimeIndex(frame.index).as_unit("ms").asi8
    usual = usual_step_ms(ms)
    if usual is not None and usual[0] != tf_ms:
        step, count, steps = usual
        found = duration_name(step)
        raise DataError(
            f"candle CSV {name} holds {found} candles ({count} of its {steps} steps between rows "
            f"are {found}), but the series' timeframe is {timeframe}; run with --timeframe "
            f"{found} (source.timeframe), or give a file of {timeframe} candles"
        )
    off = off_grid(ms, timeframe)
    if not off.any():
        return frame, None
    for offset in CLOSE_STAMP_OFFSETS_MS:
        if off.all() and not off_grid(ms + offset, timeframe).any():
            moved = frame.copy()
            moved.index = pd.DatetimeIndex(
                pd.to_datetime(ms + offset - tf_ms, unit="ms", utc=True), name="timestamp"
            )
            return moved, (
                f"{name} stamps candles at their close time ({_show(ms[0])} is "
                f"{duration_name(offset)} before the {timeframe} grid); candlecast stamps a candle "
                f"with its open time, so all {len(ms)} were moved to their open times "
                f"({_show(ms[0])} -> {_show(ms[0] + offset - tf_ms)})"
            )
    first = int(np.flatnonzero(off)[0])
    unit = grid_unit_ms(timeframe)
    floor = ms[first] - ms[first] % unit
    raise DataError(
        f"candle CSV {name}: timestamp {_show(ms[first])} is not the open time of a {timeframe} "
        f"candle ({int(off.sum())} of {len(ms)} rows are off the grid); candlecast stamps each "
        f"candle with the time it opens, on the {timeframe} grid ({_show(floor)}, "
        f"{_show(floor + unit)}, ... UTC): shift the file's timestamps to open times"
    )


def _show(ms: int) -> str:
    stamp = pd.Timestamp(int(ms), unit="ms", tz="UTC")
    text = stamp.strftime("%Y-%m-%d %H:%M:%S")
    return text + (f".{stamp.microsecond // 1000:03d}" if stamp.microsecond else "")
