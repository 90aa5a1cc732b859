"""The GARCH(1,1) baseline: the reference any quant would check for interval bands.

Point forecast: naive (the last value). Bands: from the GARCH(1,1) variance of the one-step
changes (log returns for positive series such as prices, differences otherwise), a zero-mean
model with Gaussian innovations fitted once by maximum likelihood (the `arch` package), then
filtered forward with its fixed parameters over the data up to each origin, as the statistical
baselines are. From origin t, the variance of the change over k steps is the sum of the
forecast one-step variances

    s2[t+1] = omega + alpha e[t]^2 + beta s2[t]
    s2[t+j] = omega + (alpha + beta) s2[t+j-1]            (j >= 2)

and the band of level L at step k is value * exp(+-z sqrt(sum s2)) (relative) or
value +- z sqrt(sum s2) (absolute), z the Gaussian quantile of (1 + L) / 2.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy.signal import lfilter
from scipy.stats import norm

from candlecast.core.errors import ConfigError, DataError, ModelError
from candlecast.core.evaluation.baselines import FittedOnce, _check_horizon, _origins, traded_values
from candlecast.core.evaluation.forecaster import Bands
from candlecast.core.evaluation.volatility import one_step_changes


class GarchForecaster(FittedOnce):
    """Naive points, GARCH(1,1) bands (see the module docstring)."""

    family = "baseline"  # its point forecast is naive's; only its bands are modelled
    min_history = 100

    def __init__(self, horizon: int, *, mode: str = "relative", name: str = "garch") -> None:
        if mode not in ("relative", "absolute"):
            raise ConfigError(f"garch mode must be 'relative' or 'absolute', got {mode!r}")
        self.horizon = _check_horizon(horizon)
        self.mode = mode
        self.name = name
        self.params: tuple[float, float, float] | None = None  # omega, alpha, beta (unit scale)
        self.unit = 1.0  # the changes are divided by it before fitting (numerical scale)

    def _changes(self, values: np.ndarray) -> np.ndarray:
        changes = one_step_changes(values, self.mode)
        changes[0] = 0.0
        return np.nan_to_num(changes / self.unit, nan=0.0)

    def fit(self, frame: pd.DataFrame, y: pd.Series) -> None:
        from arch import arch_model

        values = self._training_values(frame, y)
        if self.mode == "relative" and not (values > 0).all():
            raise DataError(f"{self.name}: relative bands need positive values; use 'absolute'")
        raw = one_step_changes(values, self.mode)[1:]
        raw = raw[np.isfinite(raw)]
        self.unit = float(np.std(raw)) or 1.0
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # arch's convergence chatter; the fit is checked below
            result = arch_model(raw / self.unit, mean="Zero", vol="GARCH", p=1, q=1).fit(disp="off")
        omega, alpha, beta = (float(result.params[k]) for k in ("omega", "alpha[1]", "beta[1]"))
        if not all(np.isfinite([omega, alpha, beta])) or omega <= 0:
            raise ModelError(f"{self.name}: the GARCH(1,1) fit failed ({result.params.to_dict()})")
        self.params = (omega, alpha, beta)
        self._remember_start(frame)

    def predict_at(self, frame: pd.DataFrame, y: pd.Series, origins: Sequence[int]) -> np.ndarray:
        values = traded_values(frame, y)
        at = _origins(self.name, origins, len(values))
        return np.repeat(values[at][:, None], self.horizon, axis=1)  # [origins, horizon]

    def cumulative_variance(
        self, frame: pd.DataFrame, y: pd.Series, origins: Sequence[int]
    ) -> np.ndarray:
        """`[origins, horizon]` variance of the change from each origin to each step (in the
        mode's units), from the variance filtered up to the origin."""
        if self.params is None:
            raise ModelError(f"{self.name} must be fitted before predict_at")
        omega, alpha, beta = self.params
        offset = self._offset(frame)
        values = traded_values(frame, y)
        at = _origins(self.name, origins, len(values), first=offset)
        if at.size == 0:
            return np.zeros((0, self.horizon))
        e2 = self._changes(values[offset : int(at.max()) + 1]) ** 2
        persistence = alpha + beta
        start = omega / (1 - persistence) if persistence < 1 else float(np.mean(e2))
        # s2[t + 1] = omega + alpha e2[t] + beta s2[t]: the variance of the change into t + 1
        filtered = lfilter([1.0], [1.0, -beta], omega + alpha * e2, zi=[beta * start])[0]
        s2 = np.concatenate([[start], filtered])
        ahead = np.empty((len(at), self.horizon))
        ahead[:, 0] = s2[at - offset + 1]
        for j in range(1, self.horizon):
            ahead[:, j] = omega + persistence * ahead[:, j - 1]
        return np.cumsum(ahead, axis=1) * self.unit**2

    def predict_bands_at(
        self, frame: pd.DataFrame, y: pd.Series, origins: Sequence[int], levels: Sequence[float]
    ) -> Bands:
        point = self.predict_at(frame, y, origins)
        spread = np.sqrt(self.cumulative_variance(frame, y, origins))
        bands: Bands = {}
        for level in levels:
            z = float(norm.ppf(0.5 + float(level) / 2))
            if self.mode == "relative":
                bands[float(level)] = (point * np.exp(-z * spread), point * np.exp(z * spread))
            else:
                bands[float(level)] = (point - z * spread, point + z * spread)
        return bands
