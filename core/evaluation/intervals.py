"""Conformal prediction intervals per horizon step, calibrated on backtest residuals.

Split conformal, one tail at a time: for level `1 - alpha` and the `n` residuals of horizon step
k, the interval's lower offset is the `floor((n + 1) alpha / 2)`-th smallest residual and the
upper offset the `ceil((n + 1) (1 - alpha / 2))`-th smallest (the finite-sample conformal
quantiles). Each tail then misses at most `alpha / 2` of exchangeable new residuals, so the
interval covers at least `1 - alpha`; it needs `n >= 2 / alpha - 1` residuals per step (9 for
80%, 39 for 95%). The two tails are separate, so skewed errors give asymmetric intervals.

Modes:
  absolute   residual = actual - forecast;             interval = forecast + [lower, upper]
  relative   residual = log(actual / forecast);        interval = forecast * exp([lower, upper])
             (positive series only, such as prices: the width scales with the price level)

Normalised (volatility-scaled) calibration divides each origin's residuals by the volatility
known at that origin (`core.evaluation.volatility`) before taking the quantiles, and `apply`
multiplies the offsets by the volatility at the new origin: the bands follow volatility, and
the guarantee holds for the scaled scores.

`sequential_bands` gives each backtest origin the band a scheduled run would have published
there: calibrated only on origins whose whole horizon had passed by then. Its coverage can be
wrong, unlike a band calibrated on the very residuals it is scored on.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

from candlecast.core.errors import ConfigError, DataError
from candlecast.core.evaluation.backtest import BacktestResult
from candlecast.core.evaluation.forecaster import Bands
from candlecast.core.evaluation.metrics import coverage, mean_width

Mode = Literal["absolute", "relative"]
MODES: tuple[str, ...] = ("absolute", "relative")
DEFAULT_LEVELS: tuple[float, ...] = (0.8, 0.95)

_EPS = 1e-9  # float slack for the order-statistic ranks ((n + 1) alpha / 2 may be 0.99999...)


def _check_levels(levels: Sequence[float]) -> tuple[float, ...]:
    checked = tuple(float(level) for level in levels)
    if not checked:
        raise ConfigError("levels must name at least one interval level, such as 0.8 or 0.95")
    for level in checked:
        if not 0.0 < level < 1.0:
            raise ConfigError(f"interval level {level} must be between 0 and 1 (e.g. 0.8)")
    return tuple(sorted(set(checked)))


def _check_mode(mode: str) -> Mode:
    if mode not in MODES:
        raise ConfigError(f"interval mode must be one of {', '.join(MODES)}, got {mode!r}")
    return mode  # type: ignore[return-value]


def min_residuals(level: float) -> int:
    """The fewest residuals per horizon step that give a finite `level` interval."""
    alpha = 1.0 - _check_levels([level])[0]
    return max(1, math.ceil(2.0 / alpha - 1.0 - _EPS))


def _ranks(count: np.ndarray, levels: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    """1-based order statistics of the lower and upper offsets, `[levels, horizon]`, among
    `count[step]` residuals per horizon step."""
    alpha = 1.0 - np.asarray(levels, dtype="float64")[:, None]
    low = np.floor((count + 1) * alpha / 2 + _EPS).astype(int)
    high = np.ceil((count + 1) * (1 - alpha / 2) - _EPS).astype(int)
    return low, high


def nonconformity(
    forecast: np.ndarray, actual: np.ndarray, mode: str, mask: np.ndarray | None = None
) -> np.ndarray:
    """Residuals in the mode's units; NaN where the actual does not count."""
    mode = _check_mode(mode)
    f = np.asarray(forecast, dtype="float64")
    a = np.asarray(actual, dtype="float64")
    counted = np.isfinite(f) & np.isfinite(a)
    if mask is not None:
        counted &= np.asarray(mask, dtype=bool)
    if mode == "absolute":
        return np.where(counted, a - f, np.nan)
    bad = counted & ((f <= 0) | (a <= 0))
    if bad.any():
        raise DataError(
            f"relative intervals need positive forecasts and actuals; {int(bad.sum())} counted "
            f"cell(s) are zero or negative (use mode='absolute' for this target)"
        )
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counted, np.log(a) - np.log(f), np.nan)


@dataclass(frozen=True)
class IntervalCalibration:
    """Per-step interval offsets for each level, in the mode's units."""

    levels: tuple[float, ...]
    mode: Mode
    lower: np.ndarray  # [levels, horizon]
    upper: np.ndarray  # [levels, horizon]
    count: np.ndarray  # [horizon] residuals each step was calibrated on
    normalised: bool = False  # offsets are in units of the origin's volatility

    @property
    def horizon(self) -> int:
        return int(self.lower.shape[1])

    def offsets(self, level: float) -> tuple[np.ndarray, np.ndarray]:
        """The `(lower, upper)` offsets of one level, each `[horizon]`."""
        for i, known in enumerate(self.levels):
            if math.isclose(known, level):
                return self.lower[i], self.upper[i]
        raise ConfigError(
            f"interval level {level} was not calibrated; calibrated levels: "
            f"{', '.join(str(x) for x in self.levels)}"
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form, to store with a run."""
        return {
            "levels": list(self.levels),
            "mode": self.mode,
            "lower": self.lower.tolist(),
            "upper": self.upper.tolist(),
            "count": self.count.tolist(),
            "normalised": self.normalised,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> IntervalCalibration:
        return cls(
            levels=_check_levels(data["levels"]),
            mode=_check_mode(data["mode"]),
            lower=np.asarray(data["lower"], dtype="float64"),
            upper=np.asarray(data["upper"], dtype="float64"),
            count=np.asarray(data["count"], dtype="int64"),
            normalised=bool(data.get("normalised", False)),
        )


def calibrate_scores(
    scores: np.ndarray,
    levels: Sequence[float] = DEFAULT_LEVELS,
    mode: str = "absolute",
    *,
    normalised: bool = False,
) -> IntervalCalibration:
    """Calibrate from residuals `[n_origins, horizon]` (NaN = not counted), see `nonconformity`;
    `normalised`: the residuals were divided by their origin's volatility."""
    checked = _check_levels(levels)
    mode = _check_mode(mode)
    residuals = np.asarray(scores, dtype="float64")
    if residuals.ndim != 2:
        raise DataError(f"residuals must be shaped [n_origins, horizon], got {residuals.shape}")
    count = np.isfinite(residuals).sum(axis=0)
    needed = np.array([min_residuals(level) for level in checked])
    short = count[:, None] < needed[None, :]  # [horizon, levels]
    if short.any():
        step, i = np.argwhere(short)[0]
        raise DataError(
            f"{checked[i]:.0%} intervals need at least {needed[i]} backtest residuals per "
            f"horizon step; step {step + 1} has {count[step]}. Backtest more origins (more "
            f"folds or origins per fold, or a smaller step)"
        )
    ordered = np.sort(residuals, axis=0)  # per step, the counted residuals first (NaN last)
    low, high = _ranks(count, checked)
    lower = np.take_along_axis(ordered, low - 1, axis=0)
    upper = np.take_along_axis(ordered, high - 1, axis=0)
    return IntervalCalibration(checked, mode, lower, upper, count, normalised)


def _scaled(scores: np.ndarray, scale: np.ndarray | None) -> np.ndarray:
    """Residuals `[n, horizon]` divided by each origin's volatility `[n]` (NaN where unknown)."""
    if scale is None:
        return scores
    scale = np.asarray(scale, dtype="float64")
    if scale.shape != (scores.shape[0],):
        raise DataError(
            f"the volatility must give one value per origin ({scores.shape[0]}), got shape "
            f"{scale.shape}"
        )
    with np.errstate(invalid="ignore", divide="ignore"):
        return scores / np.where(scale > 0, scale, np.nan)[:, None]


def calibrate(
    result: BacktestResult,
    levels: Sequence[float] = DEFAULT_LEVELS,
    mode: str = "absolute",
    scale: np.ndarray | None = None,
) -> IntervalCalibration:
    """Calibrate intervals on a backtest's residuals (masked actuals left out); with `scale`
    (the volatility at each origin, `[n_origins]`), on the volatility-normalised residuals."""
    scores = nonconformity(result.forecasts, result.actuals, mode, result.mask)
    return calibrate_scores(_scaled(scores, scale), levels, mode, normalised=scale is not None)


def apply(
    calibration: IntervalCalibration,
    point_forecast: np.ndarray,
    scale: float | np.ndarray | None = None,
) -> Bands:
    """Intervals around point forecasts `[..., horizon]`: `{level: (lower, upper)}`. A
    normalised calibration needs `scale`: the volatility at the forecasts' origin (a number, or
    one per leading row of `point_forecast`)."""
    forecast = np.asarray(point_forecast, dtype="float64")
    if forecast.ndim == 0 or forecast.shape[-1] != calibration.horizon:
        raise DataError(
            f"the forecast's last axis must be the calibrated horizon ({calibration.horizon} "
            f"steps), got shape {forecast.shape}"
        )
    if calibration.mode == "relative" and not (forecast[np.isfinite(forecast)] > 0).all():
        raise DataError(
            "relative intervals need positive point forecasts; some are zero or negative"
        )
    factor: float | np.ndarray = 1.0
    if calibration.normalised:
        if scale is None:
            raise DataError(
                "this calibration is volatility-normalised: give the volatility at the origin"
            )
        factor = np.asarray(scale, dtype="float64")
        if factor.ndim:
            factor = factor.reshape(factor.shape + (1,) * (forecast.ndim - factor.ndim))
    bands: Bands = {}
    for i, level in enumerate(calibration.levels):
        low, high = calibration.lower[i] * factor, calibration.upper[i] * factor
        if calibration.mode == "absolute":
            bands[level] = (forecast + low, forecast + high)
        else:
            bands[level] = (forecast * np.exp(low), forecast * np.exp(high))
    return bands


def realised_coverage(
    bands: Mapping[float, tuple[np.ndarray, np.ndarray]],
    actuals: np.ndarray,
    mask: np.ndarray | None = None,
) -> pd.DataFrame:
    """How published intervals did once the actuals came in, one row per level.

    Columns: `n` (counted actuals), `coverage` (share inside), `below` / `above` (share under
    the lower / over the upper bound), `gap` (coverage - level, negative = too narrow),
    `mean_width`.
    """
    y = np.asarray(actuals, dtype="float64")
    rows = []
    for level in sorted(bands):
        lower, upper = (np.asarray(b, dtype="float64") for b in bands[level])
        if lower.shape != y.shape or upper.shape != y.shape:
            raise DataError(
                f"the {level:.0%} interval bounds {lower.shape}/{upper.shape} must have the "
                f"actuals' shape {y.shape}"
            )
        counted = np.isfinite(y) & np.isfinite(lower) & np.isfinite(upper)
        if mask is not None:
            counted &= np.asarray(mask, dtype=bool)
        n = int(counted.sum())
        share = coverage(lower, upper, y, counted).overall
        below = float((y < lower)[counted].mean()) if n else float("nan")
        above = float((y > upper)[counted].mean()) if n else float("nan")
        rows.append(
            {
                "level": float(level),
                "n": n,
                "coverage": share,
                "below": below,
                "above": above,
                "gap": share - float(level),
                "mean_width": mean_width(lower, upper, counted).overall,
            }
        )
    return pd.DataFrame(rows).set_index("level")


def sequential_bands(
    result: BacktestResult,
    levels: Sequence[float] = DEFAULT_LEVELS,
    mode: str = "absolute",
    *,
    scale: np.ndarray | None = None,
    window: int | None = None,
    history: BacktestResult | None = None,
    history_scale: np.ndarray | None = None,
) -> Bands:
    """Intervals for `result`'s forecasts as a scheduled job publishes them: at each origin,
    calibrated only on origins whose actuals were complete by then (the `window` newest of
    them; all when None), never on its own residuals. NaN where too few were complete.

    `history` (an earlier backtest, e.g. on a validation part) adds its origins before
    `result`'s own. `scale` / `history_scale`: the volatility at each origin, for
    volatility-normalised bands (both or neither).

    Each origin's band is what `calibrate_scores` on its known residuals and `apply` give,
    computed for every origin at once: per horizon step the residuals are sorted once, and
    an origin's order statistics are read off the running count of its known residuals along
    that order (no sort per origin).
    """
    checked = _check_levels(levels)
    normalised = scale is not None
    if normalised and history is not None and history_scale is None:
        raise DataError("normalised sequential bands need the history's volatility too")
    own = _scaled(nonconformity(result.forecasts, result.actuals, mode, result.mask), scale)
    parts, completes = [own], [result.origins + result.horizon]
    if history is not None:
        past = nonconformity(history.forecasts, history.actuals, mode, history.mask)
        parts.insert(0, _scaled(past, history_scale if normalised else None))
        completes.insert(0, history.origins + history.horizon)
    scores, done = np.vstack(parts), np.concatenate(completes)
    forecast = np.asarray(result.forecasts, dtype="float64")
    if not len(forecast):
        return {level: (forecast.copy(), forecast.copy()) for level in checked}
    known = _known_rows(np.asarray(result.origins), done, window)  # [origins, rows]
    rows = known.sum(axis=1)
    needed = np.array([min_residuals(level) for level in checked])
    ready = rows[:, None] >= needed[None, :]  # [origins, levels]: enough complete origins
    usable = ready.any(axis=1)
    factor = np.ones(len(forecast))
    if normalised:
        factor = np.asarray(scale, dtype="float64")
        usable &= np.isfinite(factor)
    offsets = np.full((2, len(checked), *forecast.shape), np.nan)  # lower, upper
    for step in range(forecast.shape[1]):
        step_offsets = offsets[:, :, :, step]
        usable &= _step_offsets(scores[:, step], known, checked, needed, ready, step_offsets)
    if mode == "relative" and not (forecast[usable][np.isfinite(forecast[usable])] > 0).all():
        raise DataError(
            "relative intervals need positive point forecasts; some are zero or negative"
        )
    bands: Bands = {}
    for i, level in enumerate(checked):
        shown = usable & ready[:, i]
        low = np.where(shown[:, None], offsets[0, i] * factor[:, None], np.nan)
        high = np.where(shown[:, None], offsets[1, i] * factor[:, None], np.nan)
        if mode == "absolute":
            bands[level] = (forecast + low, forecast + high)
        else:
            bands[level] = (forecast * np.exp(low), forecast * np.exp(high))
    return bands


def _known_rows(origins: np.ndarray, done: np.ndarray, window: int | None) -> np.ndarray:
    """`[origins, rows]`: the residual rows complete by each origin (the `window` last of
    them in row order, all when None)."""
    known = done[None, :] <= origins[:, None]
    if window is not None:
        later = np.cumsum(known[:, ::-1], axis=1)[:, ::-1]  # known rows from this one on
        known &= later <= window
    return known


def _step_offsets(
    values: np.ndarray,
    known: np.ndarray,
    levels: tuple[float, ...],
    needed: np.ndarray,
    ready: np.ndarray,
    out: np.ndarray,
) -> np.ndarray:
    """One horizon step's lower and upper offsets per level and origin into `out`
    `[2, levels, origins]` (the finite-sample ranks of `calibrate_scores` among each origin's
    known, counted residuals). Returns the origins whose every ready level has enough counted
    residuals at this step (`calibrate_scores` refuses the others)."""
    order = np.argsort(values, kind="stable")  # NaN (not counted) last
    ordered = values[order]
    members = known[:, order] & np.isfinite(ordered)[None, :]
    running = np.cumsum(members, axis=1, dtype=np.int32)  # [origins, rows], non-decreasing
    count = running[:, -1]
    short = ready & (count[:, None] < needed[None, :])  # a ready level without enough here
    enough = ~np.any(short, axis=1)
    low, high = _ranks(count, levels)  # [levels, origins], 1-based
    origin = np.arange(len(known))
    width = running.shape[1] + 1  # each origin's counts offset past the one before's
    flat = (running + origin[:, None] * width).ravel()  # increasing overall
    for side, rank in enumerate((low, high)):
        # the first position where an origin's running count reaches the rank
        position = np.searchsorted(flat, rank + origin * width, side="left")
        position -= origin * running.shape[1]
        valid = (rank >= 1) & (rank <= count[None, :])
        picked = ordered[np.clip(position, 0, len(ordered) - 1)]
        out[side] = np.where(valid, picked, np.nan)
    return enough
