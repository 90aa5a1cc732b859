"""Walk-forward backtests of any `Forecaster`, one fold at a time, leakage-free by construction.

For each fold the model is fitted on `frame.iloc[train_start:train_end]` only: later rows are not
in what it receives, so no scaler, transform or feature fitted inside `fit` can see them. It then
forecasts the fold's origins from `frame.iloc[start:last_origin + 1]` (start = where the model's
fitting data started), so nothing after a fold's last origin reaches it either; within a fold the
protocol's own rule holds (row i depends on data up to origin i only), which the baselines'
tests check by perturbing the future.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from candlecast.core.errors import ConfigError, DataError, ModelError
from candlecast.core.evaluation.folds import Fold, FoldSpec, walk_forward
from candlecast.core.evaluation.forecaster import Bands, Forecaster, ForecasterFactory, own_bands


@dataclass(frozen=True)
class BacktestResult:
    """Forecasts of one model over all folds, with what they are scored against."""

    name: str
    family: str
    horizon: int
    spec: FoldSpec
    folds: tuple[Fold, ...]
    origins: np.ndarray  # [n_origins] positions in the series
    origin_times: pd.DatetimeIndex  # [n_origins] open time of each origin candle
    origin_values: np.ndarray  # [n_origins] y at each origin
    fold_of: np.ndarray  # [n_origins] fold index of each origin
    forecasts: np.ndarray  # [n_origins, horizon]
    actuals: np.ndarray  # [n_origins, horizon]
    mask: np.ndarray  # [n_origins, horizon] True where the actual counts (traded, finite)
    fit_seconds: np.ndarray  # [folds] 0 for folds that reused the first fit
    predict_seconds: np.ndarray  # [folds]
    bands: Bands | None = None  # the model's own bands (`predict_bands_at`), forecast-shaped

    @property
    def residuals(self) -> np.ndarray:
        """`actual - forecast` `[n_origins, horizon]`, NaN where the actual does not count."""
        return np.where(self.mask, self.actuals - self.forecasts, np.nan)

    @property
    def n_origins(self) -> int:
        return len(self.origins)


def _check_inputs(frame: pd.DataFrame, y: pd.Series) -> None:
    if not isinstance(frame, pd.DataFrame) or not isinstance(y, pd.Series):
        raise DataError(
            f"backtest needs a candle DataFrame and a target Series, got "
            f"{type(frame).__name__} and {type(y).__name__}"
        )
    if len(frame) != len(y) or not frame.index.equals(y.index):
        raise DataError(
            f"the target y ({len(y)} values) must be aligned with the candle frame "
            f"({len(frame)} rows): same length and same index"
        )


def _positions(origins: np.ndarray, horizon: int) -> np.ndarray:
    return origins[:, None] + np.arange(1, horizon + 1)[None, :]  # [n_origins, horizon]


def _fit(model: Forecaster, frame: pd.DataFrame, y: pd.Series, fold: Fold) -> float:
    train = slice(fold.train_start, fold.train_end)
    started = time.perf_counter()
    model.fit(frame.iloc[train], y.iloc[train])
    return time.perf_counter() - started


def _predict(
    model: Forecaster, frame: pd.DataFrame, y: pd.Series, start: int, fold: Fold, horizon: int
) -> tuple[np.ndarray, float]:
    visible = slice(start, fold.last_origin + 1)
    origins = [o - start for o in fold.origins]
    started = time.perf_counter()
    forecast = np.asarray(model.predict_at(frame.iloc[visible], y.iloc[visible], origins))
    seconds = time.perf_counter() - started
    expected = (len(fold.origins), horizon)
    if forecast.shape != expected:
        raise ModelError(
            f"{model.name}.predict_at returned shape {forecast.shape} for fold {fold.index}; "
            f"the protocol needs [origins, horizon] = {expected}"
        )
    if not np.isfinite(forecast).all():
        bad = int((~np.isfinite(forecast)).sum())
        raise ModelError(
            f"{model.name} forecast {bad} NaN or infinite value(s) in fold {fold.index} "
            f"(origins from {fold.origins[0]})"
        )
    return forecast.astype("float64"), seconds


def _fold_bands(
    model: Forecaster,
    frame: pd.DataFrame,
    y: pd.Series,
    start: int,
    fold: Fold,
    levels: tuple[float, ...],
) -> Bands | None:
    visible = slice(start, fold.last_origin + 1)
    origins = [o - start for o in fold.origins]
    return own_bands(model, frame.iloc[visible], y.iloc[visible], origins, levels)


def backtest(
    factory: ForecasterFactory,
    frame: pd.DataFrame,
    y: pd.Series,
    spec: FoldSpec,
    *,
    name: str | None = None,
    levels: tuple[float, ...] = (0.8, 0.95),
) -> BacktestResult:
    """Backtest the model `factory` builds on the folds of `spec`.

    `spec.refit`: a fresh model is built and fitted in every fold; otherwise one model is fitted
    in the first fold (on everything before the first origin) and forecasts all origins. `name`
    overrides the model's own name in the result. A model with bands of its own
    (`predict_bands_at`) gives them at `levels` too.
    """
    _check_inputs(frame, y)
    folds = walk_forward(len(y), spec)
    forecasts: list[np.ndarray] = []
    fold_bands: list[Bands | None] = []
    fit_seconds = np.zeros(len(folds))
    predict_seconds = np.zeros(len(folds))
    model: Forecaster | None = None
    fit_start = 0
    model_name, family = "", ""
    for fold in folds:
        if model is None or spec.refit:
            model = factory()
            if model.horizon != spec.horizon:
                raise ConfigError(
                    f"{model.name} forecasts {model.horizon} steps but the backtest horizon is "
                    f"{spec.horizon}; build the model with horizon={spec.horizon}"
                )
            fit_seconds[fold.index] = _fit(model, frame, y, fold)
            fit_start = fold.train_start
            model_name, family = model.name, model.family
        forecast, predict_seconds[fold.index] = _predict(
            model, frame, y, fit_start, fold, spec.horizon
        )
        forecasts.append(forecast)
        fold_bands.append(_fold_bands(model, frame, y, fit_start, fold, levels))
    origins = np.asarray([o for fold in folds for o in fold.origins], dtype="int64")
    positions = _positions(origins, spec.horizon)
    values = y.to_numpy(dtype="float64")
    actuals = values[positions]
    traded = np.isfinite(actuals)
    if "synthetic" in frame.columns:
        traded &= ~frame["synthetic"].to_numpy(dtype=bool)[positions]
    return BacktestResult(
        name=name or model_name,
        family=family,
        horizon=spec.horizon,
        spec=spec,
        folds=tuple(folds),
        origins=origins,
        origin_times=pd.DatetimeIndex(frame.index[origins]),
        origin_values=values[origins],
        fold_of=np.asarray([fold.index for fold in folds for _ in fold.origins]),
        forecasts=np.vstack(forecasts),
        actuals=actuals,
        mask=traded,
        fit_seconds=fit_seconds,
        predict_seconds=predict_seconds,
        bands=_stacked(fold_bands),
    )


def _stacked(fold_bands: list[Bands | None]) -> Bands | None:
    if not fold_bands or any(b is None for b in fold_bands):
        return None
    levels = fold_bands[0].keys()  # type: ignore[union-attr]
    return {
        level: (
            np.vstack([b[level][0] for b in fold_bands]),  # type: ignore[index]
            np.vstack([b[level][1] for b in fold_bands]),  # type: ignore[index]
        )
        for level in levels
    }


def backtest_many(
    factories: Mapping[str, ForecasterFactory],
    frame: pd.DataFrame,
    y: pd.Series,
    spec: FoldSpec,
) -> dict[str, BacktestResult]:
    """Backtest every candidate on the same folds; results keyed (and named) by the dict keys."""
    if not factories:
        raise ConfigError("backtest_many needs at least one model factory, got none")
    walk_forward(len(y), spec)  # fail on a short history before fitting anything
    return {
        name: backtest(factory, frame, y, spec, name=name) for name, factory in factories.items()
    }
