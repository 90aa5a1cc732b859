"""Timeframes as exchanges name them ("1m", "1h", "1d", ...) and what follows from them."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from candlecast.core.errors import ConfigError

_UNIT_SECONDS = {"m": 60, "h": 3600, "d": 86400, "w": 604800}
_PATTERN = re.compile(r"^(\d+)([mhdw])$")

# Seasonal periods (in candles) per timeframe: the cycles a market has at that resolution.
_PERIODS: dict[str, tuple[int, ...]] = {
    "1m": (60, 1440),
    "5m": (288, 2016),
    "15m": (96, 672),
    "30m": (48, 336),
    "1h": (24, 168),
    "2h": (12, 84),
    "4h": (6, 42),
    "6h": (4, 28),
    "12h": (2, 14),
    "1d": (7,),
    "1w": (52,),
}

SUPPORTED = tuple(_PERIODS)
DAY_MS = 86_400_000
WEEK_MS = 7 * DAY_MS


def timeframe_seconds(timeframe: str) -> int:
    """Length of one candle in seconds: `timeframe_seconds("1h") == 3600`."""
    match = _PATTERN.match(timeframe or "")
    if not match or int(match.group(1)) <= 0:
        raise ConfigError(
            f"timeframe {timeframe!r} is not a timeframe; use a number and a unit m/h/d/w, "
            f"for example one of {', '.join(SUPPORTED)}"
        )
    return int(match.group(1)) * _UNIT_SECONDS[match.group(2)]


def timeframe_offset(timeframe: str) -> pd.Timedelta:
    """The timeframe as a pandas Timedelta, for building and checking indexes."""
    return pd.Timedelta(seconds=timeframe_seconds(timeframe))


def seasonal_periods(timeframe: str) -> tuple[int, ...]:
    """Seasonal periods in candles: (24, 168) for 1h, (7,) for 1d; () when none is known."""
    timeframe_seconds(timeframe)
    return _PERIODS.get(timeframe, ())


def grid_unit_ms(timeframe: str) -> int:
    """Open times are multiples of this since the epoch: the timeframe, but a day for weekly
    candles (exchanges start their weeks on different weekdays: Binance on Monday)."""
    tf_ms = timeframe_seconds(timeframe) * 1000
    return DAY_MS if tf_ms >= WEEK_MS else tf_ms


def off_grid(ms: np.ndarray, timeframe: str) -> np.ndarray:
    """Which epoch-millisecond stamps are not open times of `timeframe` candles."""
    ms = np.asarray(ms, dtype="int64")
    off = ms % grid_unit_ms(timeframe) != 0
    tf_ms = timeframe_seconds(timeframe) * 1000
    if tf_ms >= WEEK_MS and len(ms):  # weekly: midnight, and the weekday of the first candle
        off |= (ms - ms[0]) % tf_ms != 0
    return off
