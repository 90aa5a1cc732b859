"""Timeframes as exchanges name them ("1m", "1h", "1d", ...) and what follows from them."""

from __future__ import annotations

import re

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
