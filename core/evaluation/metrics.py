"""Forecast accuracy metrics, per horizon step and overall.

Every metric takes arrays shaped `[n_origins, horizon]` (row i: the forecasts from origin i) and
an optional boolean `mask` of the same shape that says which cells count: False where the actual
was a synthetic (gap-filled, never traded) candle or missing. A masked cell counts nowhere.

`overall` is computed over all counted cells at once (not as a mean of the per-step values), so a
step with fewer counted cells weighs less. A step (or a whole metric) with no counted cell is NaN.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from candlecast.core.errors import DataError


@dataclass(frozen=True)
class Score:
    """A metric per horizon step (`per_step[k]` is step k + 1) and over all steps."""

    per_step: np.ndarray  # [horizon]
    overall: float


def _as_2d(name: str, values: np.ndarray) -> np.ndarray:
    array = np.asarray(values, dtype="float64")
    if array.ndim == 1:
        array = array[None, :]
    if array.ndim != 2:
        raise DataError(f"{name} must be shaped [n_origins, horizon], got shape {array.shape}")
    return array


def _cells(
    mask: np.ndarray | None, **arrays: np.ndarray
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Arrays as float [n, h] of one shape, and the mask of cells that count (all finite)."""
    out = {name: _as_2d(name, values) for name, values in arrays.items()}
    shapes = {name: a.shape for name, a in out.items()}
    if len(set(shapes.values())) > 1:
        described = ", ".join(f"{name} {shape}" for name, shape in shapes.items())
        raise DataError(f"metric inputs must have one shape [n_origins, horizon]; got {described}")
    shape = next(iter(shapes.values()))
    if mask is None:
        counted = np.ones(shape, dtype=bool)
    else:
        counted = np.asarray(mask, dtype=bool)
        if counted.ndim == 1:
            counted = counted[None, :]
        if counted.shape != shape:
            raise DataError(f"mask has shape {counted.shape}, the forecasts {shape}")
    for a in out.values():
        counted = counted & np.isfinite(a)
    return out, counted


def _mean(values: np.ndarray, counted: np.ndarray) -> Score:
    """Mean over counted cells, per column and overall."""
    total = np.where(counted, values, 0.0)
    count = counted.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        per_step = np.where(count > 0, total.sum(axis=0) / np.maximum(count, 1), np.nan)
    overall = float(total.sum() / counted.sum()) if counted.any() else float("nan")
    return Score(per_step=per_step, overall=overall)


def mae(forecast: np.ndarray, actual: np.ndarray, mask: np.ndarray | None = None) -> Score:
    """Mean absolute error."""
    a, counted = _cells(mask, forecast=forecast, actual=actual)
    return _mean(np.abs(a["forecast"] - a["actual"]), counted)


def rmse(forecast: np.ndarray, actual: np.ndarray, mask: np.ndarray | None = None) -> Score:
    """Root mean squared error."""
    a, counted = _cells(mask, forecast=forecast, actual=actual)
    squared = _mean((a["forecast"] - a["actual"]) ** 2, counted)
    return Score(per_step=np.sqrt(squared.per_step), overall=float(np.sqrt(squared.overall)))


def smape(forecast: np.ndarray, actual: np.ndarray, mask: np.ndarray | None = None) -> Score:
    """Symmetric MAPE in percent: mean of 200 |f - a| / (|f| + |a|); 0 where both are 0."""
    a, counted = _cells(mask, forecast=forecast, actual=actual)
    f, y = a["forecast"], a["actual"]
    denominator = np.abs(f) + np.abs(y)
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = np.where(denominator > 0, 200.0 * np.abs(f - y) / denominator, 0.0)
    return _mean(ratio, counted)


def naive_scale(y_train: np.ndarray, mask: np.ndarray | None = None, period: int = 1) -> float:
    """MASE's scale: the mean absolute `period`-step naive error over the training part.

    A pair `(y[t - period], y[t])` counts only when both values count (mask True, finite).
    """
    if isinstance(period, bool) or not isinstance(period, int) or period < 1:
        raise DataError(f"period must be a positive integer, got {period!r}")
    y = np.asarray(y_train, dtype="float64").ravel()
    counted = np.isfinite(y)
    if mask is not None:
        mask_array = np.asarray(mask, dtype=bool).ravel()
        if mask_array.shape != y.shape:
            raise DataError(f"mask has {mask_array.size} values, the training series {y.size}")
        counted &= mask_array
    pairs = counted[period:] & counted[:-period]
    if not pairs.any():
        raise DataError(
            f"the MASE scale needs at least {period + 1} counted training values "
            f"({period}-step naive pairs), got {int(counted.sum())} of {y.size}"
        )
    scale = float(np.abs(y[period:] - y[:-period])[pairs].mean())
    if not scale > 0:
        raise DataError(
            "the MASE scale (mean absolute naive error over the training part) is 0: "
            "the training series is constant, so MASE is undefined; use MAE instead"
        )
    return scale


def mase(
    forecast: np.ndarray, actual: np.ndarray, scale: float, mask: np.ndarray | None = None
) -> Score:
    """Mean absolute scaled error: MAE / `scale` (see `naive_scale`)."""
    if not (isinstance(scale, int | float | np.floating) and np.isfinite(scale) and scale > 0):
        raise DataError(
            f"scale must be a positive finite number (the training part's mean absolute "
            f"one-step naive error), got {scale!r}"
        )
    error = mae(forecast, actual, mask)
    return Score(per_step=error.per_step / scale, overall=error.overall / float(scale))


def directional_accuracy(
    forecast: np.ndarray,
    actual: np.ndarray,
    origin_values: np.ndarray,
    mask: np.ndarray | None = None,
) -> Score:
    """Share of cells whose forecast moves in the actual's direction, seen from the origin value.

    `sign(forecast - origin) == sign(actual - origin)`: a flat forecast (naive's) is right only
    where the actual stayed exactly flat. A fraction in [0, 1].
    """
    origin = np.asarray(origin_values, dtype="float64").ravel()
    a, counted = _cells(mask, forecast=forecast, actual=actual)
    if origin.shape[0] != a["forecast"].shape[0]:
        raise DataError(
            f"origin_values has {origin.shape[0]} values, one per origin is needed "
            f"({a['forecast'].shape[0]})"
        )
    counted = counted & np.isfinite(origin)[:, None]
    same = np.sign(a["forecast"] - origin[:, None]) == np.sign(a["actual"] - origin[:, None])
    return _mean(same.astype("float64"), counted)


def coverage(
    lower: np.ndarray, upper: np.ndarray, actual: np.ndarray, mask: np.ndarray | None = None
) -> Score:
    """Share of actuals inside their interval `[lower, upper]` (bounds included)."""
    a, counted = _cells(mask, lower=lower, upper=upper, actual=actual)
    inside = (a["actual"] >= a["lower"]) & (a["actual"] <= a["upper"])
    return _mean(inside.astype("float64"), counted)


def mean_width(lower: np.ndarray, upper: np.ndarray, mask: np.ndarray | None = None) -> Score:
    """Mean interval width `upper - lower`."""
    a, counted = _cells(mask, lower=lower, upper=upper)
    return _mean(a["upper"] - a["lower"], counted)


def interval_score(
    lower: np.ndarray,
    upper: np.ndarray,
    actual: np.ndarray,
    level: float,
    mask: np.ndarray | None = None,
) -> Score:
    """The interval (Winkler) score of `level` bands: their width, plus `2 / alpha` times how
    far the actual fell outside (alpha = 1 - level). Lower is better: it rewards narrow bands
    and punishes misses, so a band cannot win by being wide or by being narrow alone."""
    if not 0.0 < level < 1.0:
        raise DataError(f"interval level {level} must be between 0 and 1 (e.g. 0.8)")
    a, counted = _cells(mask, lower=lower, upper=upper, actual=actual)
    low, high, y = a["lower"], a["upper"], a["actual"]
    penalty = (2.0 / (1.0 - level)) * (np.maximum(low - y, 0.0) + np.maximum(y - high, 0.0))
    return _mean(high - low + penalty, counted)
