"""Supervised windows from a series.

An origin `o` is the position of the last candle a sample sees. Its input window is the
`window` positions `o-window+1 .. o`; its targets are the `horizon` positions `o+1 .. o+horizon`.
Position 0 is never inside a window (its one-step change is undefined).
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from candlecast.core.errors import DataError


def first_origin(window: int) -> int:
    return window


def training_origins(n: int, window: int, horizon: int) -> np.ndarray:
    """All origins whose window and targets lie inside `n` positions."""
    if window < 1 or horizon < 1:
        raise DataError(f"window ({window}) and horizon ({horizon}) must be positive integers")
    needed = window + horizon + 1
    if n < needed:
        raise DataError(
            f"a series of {n} candles is too short for window {window} + horizon {horizon}: "
            f"at least {needed} candles are needed (more for validation)"
        )
    return np.arange(first_origin(window), n - horizon)


def input_windows(channels: np.ndarray, origins: np.ndarray, window: int) -> np.ndarray:
    """`[len(origins), window, channels]` input windows ending at each origin."""
    origins = np.asarray(origins, dtype="int64")
    if len(origins) and (origins.min() < first_origin(window) or origins.max() >= len(channels)):
        raise DataError(
            f"origins must lie in [{first_origin(window)}, {len(channels) - 1}] for window "
            f"{window}, got {origins.min()}..{origins.max()}"
        )
    view = sliding_window_view(channels, window, axis=0)  # [n - window + 1, channels, window]
    return np.ascontiguousarray(view[origins - window + 1].transpose(0, 2, 1))


def future_values(values: np.ndarray, origins: np.ndarray, horizon: int) -> np.ndarray:
    """`[len(origins), horizon]`: values at `o+1 .. o+horizon` for each origin."""
    origins = np.asarray(origins, dtype="int64")
    steps = np.arange(1, horizon + 1)
    return np.asarray(values)[origins[:, None] + steps[None, :]]
