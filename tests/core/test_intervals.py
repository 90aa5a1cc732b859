"""Conformal intervals: order statistics by hand, coverage on held-back data, realised coverage."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from candlecast.core.errors import ConfigError, DataError
from candlecast.core.evaluation.backtest import BacktestResult, backtest
from candlecast.core.evaluation.baselines import NaiveForecaster, SeasonalNaiveForecaster
from candlecast.core.evaluation.folds import FoldSpec
from candlecast.core.evaluation.intervals import (
    IntervalCalibration,
    apply,
    calibrate,
    calibrate_scores,
    min_residuals,
    nonconformity,
    realised_coverage,
    sequential_bands,
)
from tests.fixtures.series import make_candles


def test_offsets_are_the_finite_sample_order_statistics() -> None:
    rng = np.random.default_rng(0)
    scores = np.column_stack([rng.permutation(np.arange(1.0, 20.0)), np.arange(19.0)])
    calibration = calibrate_scores(scores, levels=(0.8, 0.9), mode="absolute")

    # n = 19: 80% -> ranks floor(20 * 0.1) = 2 and ceil(20 * 0.9) = 18; 90% -> 1 and 19
    np.testing.assert_array_equal(calibration.offsets(0.8)[0], [2.0, 1.0])
    np.testing.assert_array_equal(calibration.offsets(0.8)[1], [18.0, 17.0])
    np.testing.assert_array_equal(calibration.offsets(0.9)[0], [1.0, 0.0])
    np.testing.assert_array_equal(calibration.offsets(0.9)[1], [19.0, 18.0])
    np.testing.assert_array_equal(calibration.count, [19, 19])


def test_minimum_residuals_per_level() -> None:
    assert [min_residuals(level) for level in (0.5, 0.8, 0.9, 0.95)] == [3, 9, 19, 39]


def test_too_few_residuals_for_a_level_are_refused() -> None:
    scores = np.arange(38.0)[:, None]
    with pytest.raises(DataError, match=r"95% intervals need at least 39 .* step 1 has 38"):
        calibrate_scores(scores, levels=(0.8, 0.95))
    with pytest.raises(ConfigError, match=r"level 1\.5 must be between 0 and 1"):
        calibrate_scores(scores, levels=(1.5,))
    with pytest.raises(ConfigError, match="mode must be one of absolute, relative"):
        calibrate_scores(scores, mode="log")


def test_masked_residuals_are_left_out() -> None:
    scores = np.arange(20.0)[:, None].repeat(2, axis=1)
    scores[:5, 1] = np.nan
    calibration = calibrate_scores(scores, levels=(0.8,))
    np.testing.assert_array_equal(calibration.count, [20, 15])


def test_apply_absolute_and_relative() -> None:
    absolute = IntervalCalibration(
        levels=(0.8,),
        mode="absolute",
        lower=np.array([[-1.0, -2.0]]),
        upper=np.array([[1.0, 3.0]]),
        count=np.array([50, 50]),
    )
    lower, upper = apply(absolute, np.array([10.0, 20.0]))[0.8]
    np.testing.assert_array_equal(lower, [9.0, 18.0])
    np.testing.assert_array_equal(upper, [11.0, 23.0])

    relative = IntervalCalibration(
        levels=(0.8,),
        mode="relative",
        lower=np.log(np.array([[0.9, 0.8]])),
        upper=np.log(np.array([[1.1, 1.25]])),
        count=np.array([50, 50]),
    )
    lower, upper = apply(relative, np.array([[100.0, 200.0], [50.0, 50.0]]))[0.8]
    np.testing.assert_allclose(lower, [[90.0, 160.0], [45.0, 40.0]])
    np.testing.assert_allclose(upper, [[110.0, 250.0], [55.0, 62.5]])
    with pytest.raises(DataError, match="positive point forecasts"):
        apply(relative, np.array([1.0, -1.0]))
    with pytest.raises(DataError, match="calibrated horizon \\(2 steps\\)"):
        apply(relative, np.array([1.0, 1.0, 1.0]))


def test_relative_residuals_need_positive_values() -> None:
    np.testing.assert_allclose(
        nonconformity(np.array([[100.0]]), np.array([[110.0]]), "relative"), [[np.log(1.1)]]
    )
    with pytest.raises(DataError, match="use mode='absolute'"):
        nonconformity(np.array([[1.0]]), np.array([[0.0]]), "relative")


def test_calibrate_uses_the_backtest_residuals_without_masked_actuals() -> None:
    frame = make_candles(400)
    frame.iloc[380, frame.columns.get_loc("synthetic")] = True
    result = backtest(lambda: NaiveForecaster(4), frame, frame["close"], FoldSpec(20, 4, 4))
    calibration = calibrate(result, levels=(0.8,), mode="relative")

    np.testing.assert_array_equal(calibration.count, result.mask.sum(axis=0))
    assert calibration.count.sum() == 20 * 4 - 1
    assert (calibration.lower < 0).all() and (calibration.upper > 0).all()


def _held_back_coverage(
    frame: pd.DataFrame, y: pd.Series, make, mode: str
) -> tuple[pd.DataFrame, IntervalCalibration]:
    half = len(frame) // 2
    spec = FoldSpec.holdout(test=half - 1000, step=24, horizon=24)
    calibration = calibrate(
        backtest(make, frame.iloc[:half], y.iloc[:half], spec), levels=(0.8, 0.95), mode=mode
    )
    later = backtest(make, frame, y, spec)  # origins in the second half only
    assert later.origins[0] > half
    bands = apply(calibration, later.forecasts)
    return realised_coverage(bands, later.actuals, later.mask), calibration


def test_relative_intervals_cover_held_back_random_walk_prices_near_nominal() -> None:
    frame = make_candles(48_000, random_walk=True, seed=11)
    report, calibration = _held_back_coverage(
        frame, frame["close"], lambda: NaiveForecaster(24), "relative"
    )
    assert (calibration.count == (23_000 - 24) // 24 + 1).all()  # 958 origins
    for level in (0.8, 0.95):
        assert abs(report.at[level, "coverage"] - level) < 0.03, report
    # a random walk's uncertainty grows with the horizon: so do the intervals
    width = calibration.upper[0] - calibration.lower[0]
    assert width[-1] > 3 * width[0]


def test_absolute_intervals_cover_held_back_volume_near_nominal() -> None:
    frame = make_candles(48_000, seed=12)
    y = np.log1p(frame["volume"])
    report, _ = _held_back_coverage(frame, y, lambda: SeasonalNaiveForecaster(24, 24), "absolute")
    for level in (0.8, 0.95):
        assert abs(report.at[level, "coverage"] - level) < 0.03, report


def test_realised_coverage_by_hand() -> None:
    actual = np.array([[0.5, 2.0, -1.0, 1.0, 7.0]])
    bands = {0.8: (np.zeros((1, 5)), np.ones((1, 5)))}
    report = realised_coverage(bands, actual, mask=np.array([[True, True, True, True, False]]))

    row = report.loc[0.8]
    assert row["n"] == 4
    assert row["coverage"] == pytest.approx(0.5)  # 0.5 and 1.0 (bound included)
    assert row["below"] == pytest.approx(0.25) and row["above"] == pytest.approx(0.25)
    assert row["gap"] == pytest.approx(-0.3)
    assert row["mean_width"] == pytest.approx(1.0)


def test_sequential_bands_match_calibrating_on_the_complete_earlier_origins() -> None:
    """Origin i's band: calibrated on the origins whose whole horizon had passed by i (here
    step 1, horizon 3: origins up to i - 3), never on its own residuals."""
    rng = np.random.default_rng(4)
    n, horizon = 60, 3
    forecasts = rng.normal(size=(n, horizon))
    actuals = forecasts + rng.standard_t(3, size=(n, horizon))
    mask = np.ones((n, horizon), dtype=bool)
    result = _result(forecasts, actuals, mask)

    lower, upper = sequential_bands(result, levels=(0.8,), mode="absolute")[0.8]
    scores = nonconformity(forecasts, actuals, "absolute", mask)
    needed = min_residuals(0.8)
    for i in range(n):
        known = scores[: max(0, i - horizon + 1)]
        if len(known) < needed:
            assert np.isnan(lower[i]).all()
            continue
        expected = apply(calibrate_scores(known, levels=(0.8,)), forecasts[i])[0.8]
        np.testing.assert_allclose(lower[i], expected[0])
        np.testing.assert_allclose(upper[i], expected[1])
    window = sequential_bands(result, levels=(0.8,), mode="absolute", window=needed)[0.8]
    expected = apply(
        calibrate_scores(scores[50 - horizon + 1 - needed : 50 - horizon + 1], (0.8,)),
        forecasts[50],
    )
    np.testing.assert_allclose(window[0][50], expected[0.8][0])


def _bands_origin_by_origin(
    result: BacktestResult,
    levels: tuple[float, ...],
    mode: str,
    scale: np.ndarray | None,
    window: int | None,
    history: BacktestResult,
    history_scale: np.ndarray | None,
) -> dict:
    """The definition `sequential_bands` computes for all origins at once: per origin, the
    complete earlier residuals (the `window` newest), `calibrate_scores` on the levels that
    have enough of them, `apply` at the origin's volatility."""

    def scaled(s: np.ndarray, v: np.ndarray | None) -> np.ndarray:
        return s if v is None else s / np.where(v > 0, v, np.nan)[:, None]

    scores = np.vstack(
        [
            scaled(
                nonconformity(history.forecasts, history.actuals, mode, history.mask), history_scale
            ),
            scaled(nonconformity(result.forecasts, result.actuals, mode, result.mask), scale),
        ]
    )
    done = np.concatenate([history.origins + history.horizon, result.origins + result.horizon])
    out = {level: np.full((2, *result.forecasts.shape), np.nan) for level in levels}
    for i, origin in enumerate(result.origins):
        known = np.flatnonzero(done <= origin)
        known = known if window is None else known[-window:]
        ready = tuple(level for level in levels if len(known) >= min_residuals(level))
        here = None if scale is None else float(scale[i])
        if not ready or (here is not None and not np.isfinite(here)):
            continue
        try:
            calibration = calibrate_scores(scores[known], ready, mode, normalised=here is not None)
        except DataError:
            continue
        for level, (low, high) in apply(calibration, result.forecasts[i : i + 1], here).items():
            out[level][:, i] = low[0], high[0]
    return out


@pytest.mark.parametrize("window", [None, 12])
@pytest.mark.parametrize("mode", ["absolute", "relative"])
@pytest.mark.parametrize("normalised", [False, True])
def test_sequential_bands_are_each_origins_own_calibration(
    window: int | None, mode: str, normalised: bool
) -> None:
    """All origins at once give exactly the per-origin calibration: with a history before the
    origins, uncounted residuals (masked, NaN forecasts), unknown volatility at some origins
    and three levels, one of them ready only later."""
    rng = np.random.default_rng(11)
    n, horizon = 90, 4
    forecasts = np.abs(rng.normal(5.0, 1.0, (n, horizon))) + 0.5
    actuals = forecasts * np.exp(0.1 * rng.standard_t(3, (n, horizon)))
    mask = rng.random((n, horizon)) > 0.1
    forecasts[17, 2] = np.nan
    result = _result(forecasts, actuals, mask)
    result.origins[:] = np.arange(n) * 2
    past = np.abs(rng.normal(5.0, 1.0, (15, horizon))) + 0.5
    history = _result(past, past * np.exp(rng.normal(0, 0.1, (15, horizon))), mask[:15])
    history.origins[:] = np.arange(15) - 40
    scale = history_scale = None
    if normalised:
        scale = np.abs(rng.normal(1.0, 0.3, n))
        scale[[5, 60]] = np.nan
        history_scale = np.abs(rng.normal(1.0, 0.3, 15))
    levels = (0.5, 0.8, 0.95)
    bands = sequential_bands(
        result,
        levels,
        mode,
        scale=scale,
        window=window,
        history=history,
        history_scale=history_scale,
    )
    expected = _bands_origin_by_origin(result, levels, mode, scale, window, history, history_scale)
    for level in levels:
        np.testing.assert_array_equal(bands[level][0], expected[level][0])
        np.testing.assert_array_equal(bands[level][1], expected[level][1])
    assert np.isfinite(bands[0.8][0]).any()  # the history's 15 are enough from the start
    # 95% needs 39 complete residuals: later with every one, never with the 12 newest
    assert np.isnan(bands[0.95][0][:5]).all()
    assert np.isfinite(bands[0.95][0]).any() == (window is None)


def test_normalised_bands_scale_with_the_volatility_at_the_origin() -> None:
    rng = np.random.default_rng(5)
    n, horizon = 80, 2
    scale = np.where(np.arange(n) < 40, 1.0, 3.0)
    forecasts = np.zeros((n, horizon))
    actuals = rng.normal(size=(n, horizon)) * scale[:, None]
    result = _result(forecasts, actuals, np.ones((n, horizon), dtype=bool))
    calibration = calibrate(result, levels=(0.8,), mode="absolute", scale=scale)
    assert calibration.normalised
    calm = apply(calibration, np.zeros(horizon), 1.0)[0.8]
    wild = apply(calibration, np.zeros(horizon), 3.0)[0.8]
    np.testing.assert_allclose(wild[1] - wild[0], 3 * (calm[1] - calm[0]))
    with pytest.raises(DataError, match="volatility-normalised: give the volatility"):
        apply(calibration, np.zeros(horizon))
    assert IntervalCalibration.from_dict(calibration.to_dict()).normalised


def test_calibration_round_trips_through_a_dict() -> None:
    calibration = calibrate_scores(np.arange(40.0)[:, None], levels=(0.8, 0.95), mode="relative")
    again = IntervalCalibration.from_dict(calibration.to_dict())
    assert again.levels == (0.8, 0.95) and again.mode == "relative"
    np.testing.assert_array_equal(again.lower, calibration.lower)
    np.testing.assert_array_equal(again.upper, calibration.upper)
    with pytest.raises(ConfigError, match=r"level 0\.9 was not calibrated"):
        again.offsets(0.9)


def _result(forecasts: np.ndarray, actuals: np.ndarray, mask: np.ndarray) -> BacktestResult:
    n, horizon = forecasts.shape
    spec = FoldSpec(folds=n, step=1, horizon=horizon, min_train=1)
    return BacktestResult(
        name="m",
        family="baseline",
        horizon=horizon,
        spec=spec,
        folds=(),
        origins=np.arange(n),
        origin_times=pd.date_range("2024-01-01", periods=n, freq="h", tz="UTC"),
        origin_values=np.zeros(n),
        fold_of=np.arange(n),
        forecasts=forecasts,
        actuals=actuals,
        mask=mask,
        fit_seconds=np.zeros(n),
        predict_seconds=np.zeros(n),
    )


def test_sequential_bands_use_only_origins_whose_actuals_are_complete() -> None:
    """Each origin's interval is calibrated on earlier, complete origins only: changing the
    actuals of an origin's own horizon (or later) never moves its interval."""
    rng = np.random.default_rng(3)
    frame = make_candles(900, random_walk=True, seed=3)
    y = frame["close"]
    spec = FoldSpec.holdout(test=300, step=6, horizon=6, min_train=48)
    history = backtest(
        lambda: NaiveForecaster(6),
        frame.iloc[:500],
        y.iloc[:500],
        FoldSpec.holdout(test=300, step=6, horizon=6, min_train=48),
    )
    result = backtest(lambda: NaiveForecaster(6), frame, y, spec)
    bands = sequential_bands(result, (0.8,), "relative", window=40, history=history)
    lower, upper = bands[0.8]
    assert lower.shape == result.forecasts.shape and np.isfinite(lower).all()
    i = 20
    shaken = frame.copy()
    later = result.origins[i] + 1
    shaken.iloc[later:, :4] *= np.exp(rng.normal(0, 0.2, (len(frame) - later, 1)))
    result2 = backtest(lambda: NaiveForecaster(6), shaken, shaken["close"], spec)
    lower2, upper2 = sequential_bands(result2, (0.8,), "relative", window=40, history=history)[0.8]
    np.testing.assert_allclose(lower2[: i + 1], lower[: i + 1])
    np.testing.assert_allclose(upper2[: i + 1], upper[: i + 1])
