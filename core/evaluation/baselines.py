"""Baselines every model is measured against, all meeting the `Forecaster` protocol.

  naive            the last value: y[o + k] = y[o]
  seasonal_naive   the same phase one period earlier: y[o + k] = y[o + k - period * ceil(k / period)]
  drift            the last value plus the average change so far: y[o] + k (y[o] - y[o - w]) / w
  ets              linear exponential smoothing (damped trend, optional seasonality), statsmodels
  theta            the Theta method (SES with drift, deseasonalised), statsmodels

All forecasts for many origins are computed at once. The two statistical models are fitted once
(parameters and initial states); `predict_at` then *filters* the later observations with those
fixed parameters, so forecasting 65 origins costs one pass over the data and no refit.

Synthetic (gap-filled, never traded) candles are read through: every baseline sees the last
traded value in their place, so a gap's volume of 0 never becomes a forecast.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy.signal import lfilter
from statsmodels.tsa.forecasting.theta import ThetaModel
from statsmodels.tsa.statespace.exponential_smoothing import ExponentialSmoothing
from statsmodels.tsa.statespace.kalman_filter import MEMORY_CONSERVE, MEMORY_NO_PREDICTED_MEAN

from candlecast.core.errors import ConfigError, DataError, ModelError


def _check_horizon(horizon: object) -> int:
    if isinstance(horizon, bool) or not isinstance(horizon, int) or horizon < 1:
        raise ConfigError(f"horizon must be a positive integer (candles), got {horizon!r}")
    return horizon


def traded_values(frame: pd.DataFrame, y: pd.Series) -> np.ndarray:
    """`y` as floats, with each synthetic candle's value replaced by the last traded value."""
    if len(frame) != len(y):
        raise DataError(f"frame has {len(frame)} rows but y has {len(y)}; they must be aligned")
    values = y.to_numpy(dtype="float64", copy=True)
    if "synthetic" in frame.columns and len(values):
        synthetic = frame["synthetic"].to_numpy(dtype=bool)
        if synthetic.any():
            kept = np.where(synthetic, np.nan, values)
            filled = pd.Series(kept).ffill().to_numpy()
            values = np.where(np.isnan(filled), values, filled)  # leading gaps stay as they are
    return values


def _origins(name: str, origins: Sequence[int], n: int, first: int = 0) -> np.ndarray:
    """Origins as int positions, each within `[first, n - 1]`."""
    array = np.asarray(origins)
    if array.size == 0:
        return np.zeros(0, dtype="int64")
    if array.ndim != 1 or not np.issubdtype(array.dtype, np.integer):
        raise DataError(f"{name}: origins must be a 1-d sequence of integer positions")
    array = array.astype("int64")
    bad = array[(array < first) | (array >= n)]
    if bad.size:
        raise DataError(
            f"{name}: origin {int(bad[0])} is outside the positions it can forecast from "
            f"({first}..{n - 1} of a series of {n} values)"
        )
    return array


class NaiveForecaster:
    """The last value, repeated: `y[o + k] = y[o]`."""

    family = "baseline"

    def __init__(self, horizon: int, *, name: str = "naive") -> None:
        self.horizon = _check_horizon(horizon)
        self.name = name

    def fit(self, frame: pd.DataFrame, y: pd.Series) -> None:
        if len(y) < 1:
            raise DataError(f"{self.name} needs at least 1 value to fit, got 0")

    def predict_at(self, frame: pd.DataFrame, y: pd.Series, origins: Sequence[int]) -> np.ndarray:
        values = traded_values(frame, y)
        at = _origins(self.name, origins, len(values))
        return np.repeat(values[at][:, None], self.horizon, axis=1)  # [origins, horizon]


class SeasonalNaiveForecaster:
    """The same phase one `period` earlier: `y[o + k] = y[o + k - period * ceil(k / period)]`."""

    family = "baseline"

    def __init__(self, period: int, horizon: int, *, name: str = "seasonal_naive") -> None:
        if isinstance(period, bool) or not isinstance(period, int) or period < 1:
            raise ConfigError(f"period must be a positive integer (candles), got {period!r}")
        self.period = period
        self.horizon = _check_horizon(horizon)
        self.name = name

    def fit(self, frame: pd.DataFrame, y: pd.Series) -> None:
        if len(y) < self.period:
            raise DataError(
                f"{self.name} needs at least one period ({self.period} values) to fit, got {len(y)}"
            )

    def predict_at(self, frame: pd.DataFrame, y: pd.Series, origins: Sequence[int]) -> np.ndarray:
        values = traded_values(frame, y)
        at = _origins(self.name, origins, len(values), first=self.period - 1)
        k = np.arange(1, self.horizon + 1)
        lag = self.period * np.ceil(k / self.period).astype("int64")  # [horizon]
        return values[at[:, None] + k[None, :] - lag[None, :]]  # [origins, horizon]


class DriftForecaster:
    """The last value plus the mean change per candle over the last `window` candles.

    `y[o + k] = y[o] + k (y[o] - y[o - w]) / w` with `w = min(window, o)`; `window=None` uses
    everything from the first value on (the textbook drift method).
    """

    family = "baseline"

    def __init__(self, horizon: int, *, window: int | None = None, name: str = "drift") -> None:
        if window is not None and (
            isinstance(window, bool) or not isinstance(window, int) or window < 1
        ):
            raise ConfigError(f"window must be a positive integer or None, got {window!r}")
        self.horizon = _check_horizon(horizon)
        self.window = window
        self.name = name

    def fit(self, frame: pd.DataFrame, y: pd.Series) -> None:
        if len(y) < 2:
            raise DataError(f"{self.name} needs at least 2 values to fit, got {len(y)}")

    def predict_at(self, frame: pd.DataFrame, y: pd.Series, origins: Sequence[int]) -> np.ndarray:
        values = traded_values(frame, y)
        at = _origins(self.name, origins, len(values))
        width = at if self.window is None else np.minimum(at, self.window)
        start = at - width
        with np.errstate(invalid="ignore", divide="ignore"):
            slope = np.where(width > 0, (values[at] - values[start]) / np.maximum(width, 1), 0.0)
        k = np.arange(1, self.horizon + 1)
        return values[at][:, None] + slope[:, None] * k[None, :]  # [origins, horizon]


class FittedOnce:
    """What the statistical models share: where the fit started, and finding it again."""

    name: str
    _start: pd.Timestamp | None = None

    def _training_values(self, frame: pd.DataFrame, y: pd.Series) -> np.ndarray:
        """The traded training values, or a DataError when fewer than the subclass's
        `min_history` or not finite."""
        values = traded_values(frame, y)
        if len(values) < self.min_history:
            raise DataError(
                f"{self.name} needs at least {self.min_history} values to fit, got {len(values)}"
            )
        if not np.isfinite(values).all():
            raise DataError(
                f"{self.name}: the training values must be finite; "
                f"{int((~np.isfinite(values)).sum())} are NaN or infinite"
            )
        return values

    def _remember_start(self, frame: pd.DataFrame) -> None:
        self._start = frame.index[0] if len(frame) else None

    def _offset(self, frame: pd.DataFrame) -> int:
        """Position in `frame` of the first candle the model was fitted on."""
        if self._start is None:
            raise ModelError(f"{self.name} must be fitted before predict_at")
        if len(frame) and frame.index[0] == self._start:
            return 0
        found = frame.index.get_indexer(pd.DatetimeIndex([self._start]))[0]
        if found < 0:
            first = frame.index[0] if len(frame) else "nothing"
            raise ModelError(
                f"{self.name} was fitted on candles from {self._start}; predict_at got candles "
                f"from {first}: pass the history from the start of the fitting data on"
            )
        return int(found)


class ETSForecaster(FittedOnce):
    """Additive exponential smoothing (ETS) in state-space form, fitted once by MLE.

    `trend` and `damped` choose A / Ad trend, `seasonal_period` an additive seasonal component.
    The initial states are concentrated out of the likelihood when fitting (fast even with 24
    seasonal states), then frozen: `predict_at` re-runs the Kalman filter from those states with
    the fitted parameters over the data up to the last origin and forecasts every origin from its
    predicted state, `Z T^(k-1) a[o + 1 | o]`. Filtering with the frozen initial state matters:
    statsmodels' `append`/`apply`/`extend` would re-concentrate the initial states over the new
    data as well, letting later values move earlier forecasts.
    """

    family = "statistical"

    def __init__(
        self,
        horizon: int,
        *,
        seasonal_period: int | None = None,
        trend: bool = True,
        damped: bool = True,
        name: str = "ets",
        start_params: np.ndarray | None = None,
    ) -> None:
        if seasonal_period is not None and (
            isinstance(seasonal_period, bool)
            or not isinstance(seasonal_period, int)
            or seasonal_period < 2
        ):
            raise ConfigError(
                f"seasonal_period must be an integer >= 2 or None, got {seasonal_period!r}"
            )
        if damped and not trend:
            raise ConfigError("damped=True needs trend=True (a damped trend is still a trend)")
        self.horizon = _check_horizon(horizon)
        self.seasonal_period = seasonal_period
        self.trend = trend
        self.damped = damped
        self.name = name
        self.params: np.ndarray | None = None
        self.initial_state: np.ndarray | None = None
        self.fit_warnings: list[str] = []
        # where the MLE starts (the last run's fit: it needs an iteration or two from there)
        self.start_params = start_params
        self.iterations: int | None = None

    @property
    def settings(self) -> str:
        """What the parameters mean: a stored fit is a starting point only for the same."""
        return f"{self.seasonal_period}/{self.trend}/{self.damped}"

    def _model(self, values: np.ndarray, **initial: object) -> ExponentialSmoothing:
        return ExponentialSmoothing(
            values,
            trend=self.trend,
            damped_trend=self.damped,
            seasonal=self.seasonal_period,
            **initial,
        )

    @property
    def min_history(self) -> int:
        return max(10, 2 * (self.seasonal_period or 0))

    def fit(self, frame: pd.DataFrame, y: pd.Series) -> None:
        values = self._training_values(frame, y)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                # no parameter covariance (unused) and no stored filter output: ~500 MB less
                # and one numerical Hessian fewer on 7,200 hourly values with 24 seasons
                model = self._model(values, initialization_method="concentrated")
                result = None
                if self.start_params is not None and len(self.start_params) == len(
                    model.start_params
                ):
                    try:
                        result = model.fit(
                            start_params=self.start_params,
                            disp=False,
                            cov_type="none",
                            low_memory=True,
                        )
                    except (ValueError, np.linalg.LinAlgError):
                        result = None  # a cold start below
                if result is None:
                    result = model.fit(disp=False, cov_type="none", low_memory=True)
            except (ValueError, np.linalg.LinAlgError) as exc:
                raise ModelError(f"{self.name} could not be fitted: {exc}") from exc
        self.iterations = result.mle_retvals.get("iterations") if result.mle_retvals else None
        self.fit_warnings = [str(w.message) for w in caught]
        self.params = np.asarray(result.params, dtype="float64")
        self.initial_state = np.asarray(result.initial_state, dtype="float64").ravel()
        self._remember_start(frame)

    def _known_initial(self) -> dict[str, object]:
        state = self.initial_state
        if state is None:
            raise ModelError(f"{self.name} must be fitted before predict_at")
        known: dict[str, object] = {"initialization_method": "known", "initial_level": state[0]}
        if self.trend:
            known["initial_trend"] = state[1]
        if self.seasonal_period:
            known["initial_seasonal"] = state[-self.seasonal_period :]
        return known

    def predict_at(self, frame: pd.DataFrame, y: pd.Series, origins: Sequence[int]) -> np.ndarray:
        if self.params is None:
            raise ModelError(f"{self.name} must be fitted before predict_at")
        offset = self._offset(frame)
        values = traded_values(frame, y)
        at = _origins(self.name, origins, len(values), first=offset)
        if at.size == 0:
            return np.zeros((0, self.horizon))
        span = values[offset : int(at.max()) + 1]
        filtered = self._model(span, **self._known_initial()).filter(
            self.params, conserve_memory=MEMORY_CONSERVE & ~MEMORY_NO_PREDICTED_MEAN
        )  # keeps only the predicted states a[t + 1 | t], all that the forecasts need
        result = filtered.filter_results
        design = result.design[:, :, 0]  # [1, states]
        transition = result.transition[:, :, 0]  # [states, states]
        steps = np.empty((self.horizon, transition.shape[0]))  # row k-1: Z T^(k-1)
        power = np.eye(transition.shape[0])
        for k in range(self.horizon):
            steps[k] = (design @ power)[0]
            power = transition @ power
        predicted = result.predicted_state[:, at - offset + 1].T  # [origins, states]: a[o+1|o]
        return predicted @ steps.T + result.obs_intercept[0, 0]  # [origins, horizon]


class ThetaForecaster(FittedOnce):
    """The Theta method (Assimakopoulos & Nikolopoulos), as statsmodels' `ThetaModel` fits it.

    Fit: classical decomposition with `period` (kept only where statsmodels' seasonality test
    finds it), then the drift `b0` (OLS on time) and SES smoothing `alpha`. Predict: the SES level
    is filtered forward with the fixed `alpha` (`scipy.signal.lfilter`, one pass), and from origin
    `o` (the `T`-th value since the fit started) step `k` is

        (level_o + w b0 (k - 1 + 1/alpha - (1 - alpha)^T / alpha)) (x or +) season[(T + k - 1) % p]

    with `w = (theta - 1) / theta`: the same numbers statsmodels' `forecast` gives at the end of
    the fitting data, and the same rule at every later origin.
    """

    family = "statistical"

    def __init__(
        self, horizon: int, *, period: int | None = None, theta: float = 2.0, name: str = "theta"
    ) -> None:
        if period is not None and (
            isinstance(period, bool) or not isinstance(period, int) or period < 2
        ):
            raise ConfigError(f"period must be an integer >= 2 or None, got {period!r}")
        if not (isinstance(theta, int | float) and theta >= 1):
            raise ConfigError(f"theta must be a number >= 1, got {theta!r}")
        self.horizon = _check_horizon(horizon)
        self.period = period
        self.theta = float(theta)
        self.name = name
        self.alpha: float | None = None
        self.b0: float | None = None
        self.multiplicative = False
        self.season = np.zeros(1)  # [period]: the seasonal index of each phase
        self.fit_warnings: list[str] = []

    @property
    def min_history(self) -> int:
        return max(10, 2 * (self.period or 0))

    def fit(self, frame: pd.DataFrame, y: pd.Series) -> None:
        values = self._training_values(frame, y)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            model = ThetaModel(values, period=self.period, deseasonalize=self.period is not None)
            result = model.fit()
        self.fit_warnings = [str(w.message) for w in caught]
        self.b0, self.alpha = (float(v) for v in result.params)
        self.multiplicative = model.method.startswith("mul")
        if self.period is not None:
            # The seasonal index of phase j is that of every position t with t % period == j.
            n = len(values)
            season = np.asarray(result.forecast_components(self.period)["seasonal"])
            self.season = season[(np.arange(self.period) - n) % self.period]
        else:
            self.season = np.ones(1) if self.multiplicative else np.zeros(1)
        self._remember_start(frame)

    def predict_at(self, frame: pd.DataFrame, y: pd.Series, origins: Sequence[int]) -> np.ndarray:
        if self.alpha is None or self.b0 is None:
            raise ModelError(f"{self.name} must be fitted before predict_at")
        offset = self._offset(frame)
        values = traded_values(frame, y)
        at = _origins(self.name, origins, len(values), first=offset)
        if at.size == 0:
            return np.zeros((0, self.horizon))
        span = values[offset : int(at.max()) + 1]
        phase = np.arange(len(span) + self.horizon) % len(self.season)
        season = self.season[phase]  # [positions]
        x = span / season[: len(span)] if self.multiplicative else span - season[: len(span)]
        alpha = self.alpha
        level = lfilter([alpha], [1.0, alpha - 1.0], x, zi=[(1.0 - alpha) * x[0]])[0]
        t = at - offset  # [origins]
        k = np.arange(1, self.horizon + 1)  # [horizon]
        nobs = (t + 1).astype("float64")
        if alpha > 0:
            drift = k[None, :] - 1 + 1 / alpha - ((1 - alpha) ** nobs)[:, None] / alpha
        else:
            drift = np.broadcast_to(k[None, :] - 1.0, (len(t), self.horizon))
        weight = (self.theta - 1) / self.theta if math.isfinite(self.theta) else 1.0
        forecast = level[t][:, None] + weight * self.b0 * drift  # [origins, horizon]
        phases = season[t[:, None] + k[None, :]]
        return forecast * phases if self.multiplicative else forecast + phases
