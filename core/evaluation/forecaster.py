"""The one contract every model meets: baselines, statistical models and networks alike.

A backtest, the champion rule and the forecast step only ever talk to this protocol, so a new
model family never touches them (darts' god-class is the warning: this stays small).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol, runtime_checkable

import numpy as np
import pandas as pd


@runtime_checkable
class Forecaster(Protocol):
    """Forecasts the next `horizon` values of a target series.

    `frame` is the candle frame (see `core.candles`), `y` the target values aligned with it
    (close prices, log1p(volume), ...: what the metrics are computed on). Both are causal
    inputs: a forecaster only ever sees data up to the origin it forecasts from.
    """

    name: str  # "naive", "lstm", ...
    family: str  # "baseline" | "statistical" | "network"
    horizon: int

    def fit(self, frame: pd.DataFrame, y: pd.Series) -> None:
        """Learn from all of `frame`/`y` (the training part)."""
        ...

    def predict_at(self, frame: pd.DataFrame, y: pd.Series, origins: Sequence[int]) -> np.ndarray:
        """Forecasts from each origin position: row i holds the `horizon` values after `y[origins[i]]`.

        Returns `[len(origins), horizon]` in the units of `y`. Only `y[: origin + 1]` (and the
        same rows of `frame`) may influence row i.
        """
        ...


ForecasterFactory = Callable[[], Forecaster]

Bands = dict[float, tuple[np.ndarray, np.ndarray]]
"""Interval bands: level -> (lower, upper), each shaped like the forecasts they surround."""


def own_bands(
    model: Forecaster,
    frame: pd.DataFrame,
    y: pd.Series,
    origins: Sequence[int],
    levels: Sequence[float],
) -> Bands | None:
    """The model's own interval bands, if it has any (an optional method of the contract):

        predict_bands_at(frame, y, origins, levels) -> {level: (lower, upper)}

    each `[len(origins), horizon]` like `predict_at`, under the same no-look-ahead rule. A
    model without it (most) gets conformal bands calibrated on its backtest residuals instead.
    """
    method = getattr(model, "predict_bands_at", None)
    if method is None:
        return None
    bands = method(frame, y, origins, tuple(levels))
    return {
        float(level): (np.asarray(low, dtype="float64"), np.asarray(high, dtype="float64"))
        for level, (low, high) in bands.items()
    }
