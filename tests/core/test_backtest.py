"""Backtests: what each fold sees (perturb the future: nothing changes), timing, actuals, masks."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import pytest

from candlecast.core.errors import ConfigError, DataError, ModelError
from candlecast.core.evaluation.backtest import backtest, backtest_many
from candlecast.core.evaluation.baselines import NaiveForecaster, SeasonalNaiveForecaster
from candlecast.core.evaluation.folds import FoldSpec
from tests.fixtures.series import make_candles


class SpyForecaster:
    """Standardises like a network would (scaler fitted in `fit`) and records everything."""

    family = "network"

    def __init__(self, horizon: int = 6, log: list[dict] | None = None) -> None:
        self.name = "spy"
        self.horizon = horizon
        self.log = log if log is not None else []

    def fit(self, frame: pd.DataFrame, y: pd.Series) -> None:
        self.mean, self.std = float(y.mean()), float(y.std())
        self.log.append(
            {
                "call": "fit",
                "frame": frame.copy(),
                "y": y.copy(),
                "scaler": (self.mean, self.std),
            }
        )

    def predict_at(self, frame: pd.DataFrame, y: pd.Series, origins: Sequence[int]) -> np.ndarray:
        self.log.append({"call": "predict", "y": y.copy(), "origins": list(origins)})
        scaled = (y.to_numpy()[list(origins)] - self.mean) / self.std
        return np.repeat((scaled * self.std + self.mean)[:, None], self.horizon, axis=1)


@pytest.fixture
def series() -> tuple[pd.DataFrame, pd.Series]:
    frame = make_candles(300)
    return frame, frame["close"]


SPEC = FoldSpec(folds=4, step=12, horizon=6, min_train=100)


def _spy_run(frame: pd.DataFrame, y: pd.Series, spec: FoldSpec = SPEC) -> tuple[list[dict], object]:
    log: list[dict] = []
    result = backtest(lambda: SpyForecaster(spec.horizon, log), frame, y, spec)
    return log, result


def test_each_fold_fits_only_on_data_before_its_origin(series) -> None:
    frame, y = series
    log, result = _spy_run(frame, y)
    fits = [entry for entry in log if entry["call"] == "fit"]

    assert len(fits) == 4
    for fit, fold in zip(fits, result.folds, strict=True):
        assert len(fit["y"]) == fold.train_end
        assert fit["y"].index[-1] == frame.index[fold.origins[0]]
        assert fit["frame"].index.equals(frame.index[: fold.train_end])


def test_perturbing_the_future_changes_no_fold_inputs_scaler_or_forecast(series) -> None:
    frame, y = series
    log, result = _spy_run(frame, y)
    cut = result.folds[1].origins[0]  # everything after fold 1's origin changes
    future = y.copy()
    future.iloc[cut + 1 :] *= 5.0
    frame_future = frame.copy()
    frame_future.iloc[cut + 1 :, frame.columns.get_loc("close")] *= 5.0
    log_future, result_future = _spy_run(frame_future, future)

    fits = [e for e in log if e["call"] == "fit"]
    fits_future = [e for e in log_future if e["call"] == "fit"]
    for before, after in zip(fits[:2], fits_future[:2], strict=True):
        pd.testing.assert_series_equal(before["y"], after["y"])
        pd.testing.assert_frame_equal(before["frame"], after["frame"])
        assert before["scaler"] == after["scaler"]
    assert fits[2]["scaler"] != fits_future[2]["scaler"]  # the perturbation did reach fold 2
    early = result.fold_of <= 1
    np.testing.assert_array_equal(result.forecasts[early], result_future.forecasts[early])


def test_predict_sees_nothing_after_the_folds_last_origin(series) -> None:
    frame, y = series
    spec = FoldSpec(folds=2, step=10, horizon=6, origins_per_fold=3, min_train=100)
    log, result = _spy_run(frame, y, spec)
    predicts = [e for e in log if e["call"] == "predict"]

    for call, fold in zip(predicts, result.folds, strict=True):
        assert call["y"].index[-1] == frame.index[fold.last_origin]
        assert call["origins"] == list(fold.origins)  # positions in what predict_at receives


def test_without_refit_one_model_is_fitted_before_the_first_origin(series) -> None:
    frame, y = series
    spec = FoldSpec(folds=3, step=12, horizon=6, min_train=100, refit=False)
    log, result = _spy_run(frame, y, spec)

    fits = [e for e in log if e["call"] == "fit"]
    assert len(fits) == 1
    assert len(fits[0]["y"]) == result.origins[0] + 1
    assert result.fit_seconds[0] > 0
    assert (result.fit_seconds[1:] == 0).all()
    assert (result.predict_seconds > 0).all()


def test_sliding_folds_fit_and_predict_from_the_window_start(series) -> None:
    frame, y = series
    spec = FoldSpec(folds=2, step=12, horizon=6, scheme="sliding", window=80, min_train=50)
    log, result = _spy_run(frame, y, spec)

    fits = [e for e in log if e["call"] == "fit"]
    predicts = [e for e in log if e["call"] == "predict"]
    assert [len(f["y"]) for f in fits] == [80, 80]
    for call, fold in zip(predicts, result.folds, strict=True):
        assert call["y"].index[0] == frame.index[fold.train_start]
        assert call["origins"] == [o - fold.train_start for o in fold.origins]
    np.testing.assert_allclose(result.forecasts[:, 0], y.to_numpy()[result.origins])


def test_actuals_origins_and_mask(series) -> None:
    frame, y = series
    frame = frame.copy()
    frame.iloc[290, frame.columns.get_loc("synthetic")] = True
    result = backtest(lambda: NaiveForecaster(6), frame, y, SPEC)

    assert list(result.origins) == [257, 269, 281, 293]
    np.testing.assert_array_equal(result.actuals[2], y.to_numpy()[282:288])
    np.testing.assert_array_equal(result.origin_values, y.to_numpy()[result.origins])
    assert result.origin_times.equals(frame.index[result.origins])
    assert result.mask.all()  # 290 lies between the forecasts of 281 (282..287) and 293
    frame.iloc[296, frame.columns.get_loc("synthetic")] = True
    masked = backtest(lambda: NaiveForecaster(6), frame, y, SPEC)
    assert not masked.mask[3, 2] and masked.mask.sum() == 23
    assert np.isnan(masked.residuals[3, 2])
    np.testing.assert_allclose(masked.residuals[0], y.to_numpy()[258:264] - y.to_numpy()[257])


def test_backtest_many_runs_every_model_on_the_same_folds(series) -> None:
    frame, y = series
    results = backtest_many(
        {
            "naive": lambda: NaiveForecaster(6),
            "daily": lambda: SeasonalNaiveForecaster(24, 6),
        },
        frame,
        y,
        SPEC,
    )
    assert list(results) == ["naive", "daily"]
    assert results["daily"].name == "daily" and results["daily"].family == "baseline"
    np.testing.assert_array_equal(results["naive"].origins, results["daily"].origins)
    np.testing.assert_array_equal(results["naive"].actuals, results["daily"].actuals)


def test_a_model_with_another_horizon_is_refused(series) -> None:
    frame, y = series
    with pytest.raises(ConfigError, match="naive forecasts 3 steps but the backtest horizon is 6"):
        backtest(lambda: NaiveForecaster(3), frame, y, SPEC)


class _Broken(NaiveForecaster):
    def __init__(self, result: np.ndarray) -> None:
        super().__init__(6, name="broken")
        self.result = result

    def predict_at(self, frame, y, origins) -> np.ndarray:
        return self.result


def test_wrong_shapes_and_nan_forecasts_are_model_errors(series) -> None:
    frame, y = series
    with pytest.raises(ModelError, match=r"returned shape \(1, 5\) .* \(1, 6\)"):
        backtest(lambda: _Broken(np.zeros((1, 5))), frame, y, SPEC)
    with pytest.raises(ModelError, match="broken forecast 1 NaN"):
        backtest(lambda: _Broken(np.array([[0, 0, 0, 0, 0, np.nan]])), frame, y, SPEC)


def test_target_must_be_aligned_with_the_frame(series) -> None:
    frame, y = series
    with pytest.raises(DataError, match="must be aligned"):
        backtest(lambda: NaiveForecaster(6), frame, y.iloc[1:], SPEC)
    with pytest.raises(ConfigError, match="needs at least one model factory"):
        backtest_many({}, frame, y, SPEC)
