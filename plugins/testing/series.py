"""The small, deterministic candle series the contract kit trains on."""

from __future__ import annotations

import numpy as np
import pandas as pd


def contract_candles(n: int = 160, *, seed: int = 0) -> pd.DataFrame:
    """`n` hourly candles (a daily cycle plus noise around 100) as a candle frame.

    Columns open, high, low, close, volume, synthetic; a tz-aware UTC index of open times.
    """
    rng = np.random.default_rng(seed)
    index = pd.date_range("2024-01-01", periods=n, freq="1h", tz="UTC", name="timestamp")
    t = np.arange(n)
    close = np.exp(np.log(100.0) + 0.02 * np.sin(2 * np.pi * t / 24) + rng.normal(0, 0.002, n))
    open_ = np.concatenate([[close[0]], close[:-1]])
    spread = np.abs(rng.normal(0, 0.002, n)) * close
    volume = np.exp(3 + 0.5 * np.sin(2 * np.pi * t / 24) + rng.normal(0, 0.1, n))
    return pd.DataFrame(
        {
            "open": open_,
            "high": np.maximum(open_, close) + spread,
            "low": np.minimum(open_, close) - spread,
            "close": close,
            "volume": volume,
            "synthetic": False,
        },
        index=index,
    )
