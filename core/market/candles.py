"""The candle frame every stage passes around, and the identity of a series.

A candle frame is a pandas DataFrame:
  index    `timestamp`, tz-aware UTC DatetimeIndex of candle OPEN times, strictly increasing
  columns  open, high, low, close, volume (float64), synthetic (bool: gap-filled, not traded)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from candlecast.core.errors import DataError

PRICE_COLUMNS = ("open", "high", "low", "close")
OHLCV_COLUMNS = (*PRICE_COLUMNS, "volume")
FRAME_COLUMNS = (*OHLCV_COLUMNS, "synthetic")


@dataclass(frozen=True, order=True)
class SeriesKey:
    """Which series: `SeriesKey("binance", "BTC/USDT", "1h")`; `str(key)` is its stable id."""

    exchange: str
    symbol: str
    timeframe: str

    def __str__(self) -> str:
        return f"{self.exchange}:{self.symbol}:{self.timeframe}"

    @property
    def slug(self) -> str:
        """A file-name-safe form: `binance_BTC-USDT_1h`."""
        return f"{self.exchange}_{self.symbol.replace('/', '-').replace(':', '-')}_{self.timeframe}"

    @classmethod
    def parse(cls, text: str) -> SeriesKey:
        parts = text.split(":")
        if len(parts) < 3:
            raise DataError(f"series id {text!r} must look like 'exchange:SYMBOL/QUOTE:timeframe'")
        return cls(parts[0], ":".join(parts[1:-1]), parts[-1])


def empty_frame() -> pd.DataFrame:
    """A candle frame with no rows and the right dtypes."""
    frame = pd.DataFrame(
        {c: pd.Series(dtype="float64") for c in OHLCV_COLUMNS}
        | {"synthetic": pd.Series(dtype="bool")},
        index=pd.DatetimeIndex([], tz="UTC", name="timestamp"),
    )
    return frame


def frame_from_ohlcv(rows: list[list[float]] | np.ndarray) -> pd.DataFrame:
    """Build a candle frame from ccxt-style rows `[ms, open, high, low, close, volume]`."""
    if len(rows) == 0:
        return empty_frame()
    array = np.asarray(rows, dtype="float64")
    if array.ndim != 2 or array.shape[1] < 6:
        raise DataError(
            f"OHLCV rows must have 6 columns [ms, o, h, l, c, v], got shape {array.shape}"
        )
    index = pd.DatetimeIndex(pd.to_datetime(array[:, 0].astype("int64"), unit="ms", utc=True))
    frame = pd.DataFrame(array[:, 1:6], columns=list(OHLCV_COLUMNS), index=index)
    frame.index.name = "timestamp"
    frame["synthetic"] = False
    return frame


def to_ohlcv_rows(frame: pd.DataFrame) -> list[list[float]]:
    """The inverse of `frame_from_ohlcv` (milliseconds since the epoch first)."""
    ms = pd.DatetimeIndex(frame.index).as_unit("ms").asi8
    values = frame[list(OHLCV_COLUMNS)].to_numpy(dtype="float64")
    return [[int(t), *map(float, row)] for t, row in zip(ms, values, strict=True)]


def require_frame(frame: pd.DataFrame, what: str = "candles") -> pd.DataFrame:
    """Check the structural contract of a candle frame (not the values: see validation)."""
    missing = [c for c in OHLCV_COLUMNS if c not in frame.columns]
    if missing:
        raise DataError(
            f"{what} lack the column(s) {', '.join(missing)}; a candle frame needs "
            f"{', '.join(OHLCV_COLUMNS)} (and optionally synthetic)"
        )
    if not isinstance(frame.index, pd.DatetimeIndex) or frame.index.tz is None:
        raise DataError(f"{what} must be indexed by a tz-aware UTC DatetimeIndex of open times")
    if "synthetic" not in frame.columns:
        frame = frame.assign(synthetic=False)
    return frame


def as_utc(value: object) -> pd.Timestamp:
    """A timestamp in UTC; naive values (as SQLite returns them) are taken to be UTC."""
    stamp = pd.Timestamp(value)
    return stamp.tz_localize("UTC") if stamp.tz is None else stamp.tz_convert("UTC")
