"""A generated candle series for a sandbox started without a CSV: plausible, valid, seeded."""

from __future__ import annotations

import numpy as np
import pandas as pd

from candlecast.core.market.timeframes import timeframe_offset


def generate_candles(
    n: int = 24 * 400,
    *,
    timeframe: str = "1h",
    end: pd.Timestamp | None = None,
    seed: int = 0,
    start_price: float = 30_000.0,
) -> pd.DataFrame:
    """`n` candles ending with the one open at `end` (default: now): a random walk with a daily
    cycle in volume; prices rounded to cents, every candle valid (high >= open/close >= low)."""
    step = timeframe_offset(timeframe)
    end = pd.Timestamp.now(tz="UTC") if end is None else pd.Timestamp(end)
    last_open = end.floor(step)
    index = pd.date_range(end=last_open, periods=n, freq=step, name="timestamp")
    rng = np.random.default_rng(seed)
    hours = np.asarray(index.hour, dtype="float64")
    close = np.round(start_price * np.exp(np.cumsum(rng.normal(0.0, 0.004, n))), 2)
    open_ = np.concatenate([[start_price], close[:-1]])
    wick = np.abs(rng.normal(0.0, 0.002, (2, n))) * close
    high = np.round(np.maximum(open_, close) + wick[0], 2)
    low = np.round(np.minimum(open_, close) - wick[1], 2)
    volume = np.round(np.exp(4 + 0.5 * np.sin(2 * np.pi * hours / 24) + rng.normal(0, 0.2, n)), 4)
    frame = pd.DataFrame(
        {"open": open_, "high": high, "low": low, "close": close, "volume": volume}, index=index
    )
    frame["synthetic"] = False
    return frame
