"""Baselines: hand-computed forecasts, causality, and the statistical models matching statsmodels."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from statsmodels.tsa.forecasting.theta import ThetaModel
from statsmodels.tsa.statespace.exponential_smoothing import ExponentialSmoothing

from candlecast.core.errors import ConfigError, DataError, ModelError
from candlecast.core.evaluation.baselines import (
    DriftForecaster,
    ETSForecaster,
    NaiveForecaster,
    SeasonalNaiveForecaster,
    ThetaForecaster,
    traded_values,
)
from candlecast.core.evaluation.forecaster import Forecaster
from tests.fixtures.series import make_candles


def _series(values: list[float] | np.ndarray) -> tuple[pd.DataFrame, pd.Series]:
    frame = make_candles(len(values))
    y = pd.Series(np.asarray(values, dtype="float64"), index=frame.index, name="y")
    return frame, y


@pytest.fixture(scope="module")
def volume() -> tuple[pd.DataFrame, pd.Series]:
    """600 hourly candles; target log1p(volume) with a daily cycle."""
    frame = make_candles(600, seed=3)
    return frame, np.log1p(frame["volume"])


@pytest.fixture(scope="module")
def seasonal_ets(volume: tuple[pd.DataFrame, pd.Series]) -> ETSForecaster:
    frame, y = volume
    model = ETSForecaster(24, seasonal_period=24)
    model.fit(frame.iloc[:240], y.iloc[:240])  # ten days: enough, and a fast fit
    return model


def test_every_baseline_meets_the_protocol() -> None:
    for model in (
        NaiveForecaster(3),
        SeasonalNaiveForecaster(24, 3),
        DriftForecaster(3),
        ETSForecaster(3),
        ThetaForecaster(3),
    ):
        assert isinstance(model, Forecaster)
        assert model.horizon == 3
    assert NaiveForecaster(3).family == "baseline"
    assert ETSForecaster(3).family == ThetaForecaster(3).family == "statistical"


def test_naive_repeats_the_origin_value() -> None:
    frame, y = _series(np.arange(10.0))
    model = NaiveForecaster(3)
    model.fit(frame, y)
    np.testing.assert_array_equal(model.predict_at(frame, y, [3, 7]), [[3, 3, 3], [7, 7, 7]])


def test_seasonal_naive_takes_the_same_phase_one_period_back() -> None:
    frame, y = _series(np.arange(20.0))
    model = SeasonalNaiveForecaster(4, 6)
    model.fit(frame, y)
    # from origin 9: steps 1..4 -> y[6..9], steps 5..6 wrap to y[6..7]
    np.testing.assert_array_equal(model.predict_at(frame, y, [9]), [[6, 7, 8, 9, 6, 7]])


def test_seasonal_naive_needs_a_full_period_before_the_origin() -> None:
    frame, y = _series(np.arange(20.0))
    with pytest.raises(DataError, match=r"origin 2 is outside .* \(3\.\.19"):
        SeasonalNaiveForecaster(4, 2).predict_at(frame, y, [2])


def test_drift_extends_the_average_change() -> None:
    frame, y = _series([0.0, 2.0, 4.0, 6.0, 9.0])
    np.testing.assert_allclose(DriftForecaster(2).predict_at(frame, y, [4]), [[11.25, 13.5]])
    np.testing.assert_allclose(DriftForecaster(2, window=1).predict_at(frame, y, [4]), [[12, 15]])
    np.testing.assert_allclose(DriftForecaster(2).predict_at(frame, y, [0]), [[0, 0]])


def test_synthetic_candles_are_read_through_with_the_last_traded_value() -> None:
    frame, y = _series([5.0, 6.0, 0.0, 0.0, 7.0])
    frame["synthetic"] = [False, False, True, True, False]
    np.testing.assert_array_equal(traded_values(frame, y), [5, 6, 6, 6, 7])
    np.testing.assert_array_equal(NaiveForecaster(2).predict_at(frame, y, [3]), [[6, 6]])


def test_origins_outside_the_series_are_refused() -> None:
    frame, y = _series(np.arange(5.0))
    with pytest.raises(DataError, match="naive: origin 5 is outside"):
        NaiveForecaster(2).predict_at(frame, y, [1, 5])
    with pytest.raises(ConfigError, match=r"horizon must be a positive integer \(candles\), got 0"):
        NaiveForecaster(0)


@pytest.mark.parametrize(
    "make",
    [
        lambda: NaiveForecaster(24),
        lambda: SeasonalNaiveForecaster(24, 24),
        lambda: DriftForecaster(24),
        lambda: DriftForecaster(24, window=48),
        lambda: ETSForecaster(24),
        lambda: ThetaForecaster(24, period=24),
    ],
    ids=["naive", "seasonal_naive", "drift", "drift_window", "ets", "theta"],
)
def test_a_forecast_only_depends_on_values_up_to_its_origin(
    make, volume: tuple[pd.DataFrame, pd.Series]
) -> None:
    frame, y = volume
    model = make()
    model.fit(frame.iloc[:400], y.iloc[:400])
    origins = [399, 430, 460, 500]
    before = model.predict_at(frame, y, origins)
    future = y.copy()
    future.iloc[461:] = future.iloc[461:] * 3 + 10  # everything after origin 460 changes
    after = model.predict_at(frame, future, origins)
    np.testing.assert_array_equal(after[:3], before[:3])
    assert not np.allclose(after[3], before[3])


def test_ets_forecasts_at_the_end_of_training_as_statsmodels_does(
    seasonal_ets: ETSForecaster, volume: tuple[pd.DataFrame, pd.Series]
) -> None:
    frame, y = volume
    reference = (
        ExponentialSmoothing(
            y.to_numpy()[:240],
            trend=True,
            damped_trend=True,
            seasonal=24,
            initialization_method="concentrated",
        )
        .fit(disp=False)
        .forecast(24)
    )
    ours = seasonal_ets.predict_at(frame, y, [239])[0]
    np.testing.assert_allclose(ours, reference, rtol=1e-9, atol=1e-9)


def test_ets_filters_later_data_without_refitting(
    seasonal_ets: ETSForecaster, volume: tuple[pd.DataFrame, pd.Series]
) -> None:
    frame, y = volume
    params = seasonal_ets.params.copy()
    forecast = seasonal_ets.predict_at(frame, y, list(range(239, 576, 24)))
    np.testing.assert_array_equal(seasonal_ets.params, params)
    # filtering the new data keeps the cycle: far better than naive on a daily-cycle series
    origins = np.arange(239, 576, 24)
    actual = y.to_numpy()[origins[:, None] + np.arange(1, 25)]
    naive = np.repeat(y.to_numpy()[origins][:, None], 24, axis=1)
    assert np.abs(forecast - actual).mean() < 0.6 * np.abs(naive - actual).mean()


def test_ets_needs_the_history_from_where_it_was_fitted(
    seasonal_ets: ETSForecaster, volume: tuple[pd.DataFrame, pd.Series]
) -> None:
    frame, y = volume
    # a window starting later is found by timestamp: same numbers
    np.testing.assert_allclose(
        seasonal_ets.predict_at(frame.iloc[0:500], y.iloc[0:500], [450]),
        seasonal_ets.predict_at(frame, y, [450]),
    )
    with pytest.raises(ModelError, match="pass the history from the start of the fitting data"):
        seasonal_ets.predict_at(frame.iloc[10:], y.iloc[10:], [400])


def test_ets_refuses_too_short_or_non_finite_training_data() -> None:
    frame, y = _series(np.arange(30.0))
    with pytest.raises(DataError, match="needs at least 48 values to fit, got 30"):
        ETSForecaster(3, seasonal_period=24).fit(frame, y)
    y.iloc[5] = np.nan
    with pytest.raises(DataError, match="1 are NaN or infinite"):
        ETSForecaster(3).fit(frame, y)
    with pytest.raises(ModelError, match="must be fitted"):
        ETSForecaster(3).predict_at(frame, y, [10])
    with pytest.raises(ConfigError, match="damped=True needs trend=True"):
        ETSForecaster(3, trend=False)


@pytest.mark.parametrize("period", [24, None])
@pytest.mark.parametrize("target", ["log1p_volume", "close"])
def test_theta_forecasts_at_the_end_of_training_as_statsmodels_does(
    period: int | None, target: str
) -> None:
    frame = make_candles(500, seed=5, drift=0.0004)
    y = np.log1p(frame["volume"]) if target == "log1p_volume" else frame["close"]
    model = ThetaForecaster(24, period=period)
    model.fit(frame.iloc[:400], y.iloc[:400])
    reference = ThetaModel(
        y.to_numpy()[:400], period=period, deseasonalize=period is not None
    ).fit()
    np.testing.assert_allclose(
        model.predict_at(frame, y, [399])[0], np.asarray(reference.forecast(24)), rtol=1e-10
    )
    assert (model.b0, model.alpha) == tuple(reference.params)
