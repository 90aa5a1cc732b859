"""Intervals that follow volatility: the volatility estimate, normalised conformal bands on a
series whose volatility switches regime, the GARCH(1,1) baseline, and the interval score."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from candlecast.core.errors import DataError
from candlecast.core.evaluation.backtest import backtest
from candlecast.core.evaluation.baselines import NaiveForecaster
from candlecast.core.evaluation.folds import FoldSpec
from candlecast.core.evaluation.garch import GarchForecaster
from candlecast.core.evaluation.intervals import sequential_bands
from candlecast.core.evaluation.metrics import coverage, interval_score
from candlecast.core.evaluation.volatility import (
    MIN_CHANGES,
    ewma_volatility,
    one_step_changes,
    volatility,
)


def regime_prices(n: int = 4000, switch: int = 2000, calm: float = 0.004, wild: float = 0.016):
    """A random walk in log price whose volatility switches from `calm` to `wild` at `switch`
    (and back for the last quarter): the turbulent-then-calm market static bands miss."""
    rng = np.random.default_rng(11)
    sigma = np.full(n, calm)
    sigma[switch : n - n // 4] = wild
    log_price = np.log(30_000) + np.cumsum(rng.normal(0.0, sigma))
    index = pd.date_range("2024-01-01", periods=n, freq="h", tz="UTC")
    price = np.exp(log_price)
    frame = pd.DataFrame(
        {
            "open": price,
            "high": price * 1.001,
            "low": price * 0.999,
            "close": price,
            "volume": 1.0,
            "synthetic": False,
        },
        index=index,
    )
    return frame, sigma


def test_the_volatility_is_causal_and_tracks_the_regime():
    frame, _ = regime_prices()
    values = frame["close"].to_numpy()
    scale = volatility(values, "relative", halflife=48)
    assert np.isnan(scale[:MIN_CHANGES]).all() and np.isfinite(scale[MIN_CHANGES + 1 :]).all()
    # the mean absolute change of a Gaussian is sigma * sqrt(2 / pi)
    calm, wild = scale[1500:2000].mean(), scale[2600:2900].mean()
    assert calm == pytest.approx(0.004 * np.sqrt(2 / np.pi), rel=0.15)
    assert wild / calm == pytest.approx(4.0, rel=0.2)
    # nothing after t moves the estimate at t
    cut = 2500
    again = volatility(values[: cut + 1], "relative", halflife=48)
    np.testing.assert_allclose(again, scale[: cut + 1])


def test_changes_skip_untraded_candles_and_flat_stretches_have_no_scale():
    values = np.array([100.0, 101.0, 101.0, 99.0, 99.0])
    traded = np.array([True, True, False, True, True])
    changes = one_step_changes(values, "absolute", traded)
    assert np.isnan(changes[[0, 2, 3]]).all() and changes[1] == 1.0 and changes[4] == 0.0
    assert np.isnan(ewma_volatility(np.zeros(20), 5)).all()
    with pytest.raises(DataError, match="half-life must be positive"):
        ewma_volatility(np.zeros(20), 0)
    with pytest.raises(DataError, match="'relative' or 'absolute'"):
        one_step_changes(values, "ratio")


def test_normalised_bands_keep_coverage_in_both_regimes_where_static_bands_miss():
    frame, _ = regime_prices()
    y = frame["close"]
    spec = FoldSpec.holdout(test=3000, step=3, horizon=24, min_train=200)
    result = backtest(lambda: NaiveForecaster(24), frame, y, spec)
    scale = volatility(y.to_numpy(), "relative", halflife=48)[result.origins]
    window = 224  # what the default selection backtest holds (28 days every 3 hours)
    static = sequential_bands(result, (0.8,), "relative", window=window)[0.8]
    normal = sequential_bands(result, (0.8,), "relative", window=window, scale=scale)[0.8]
    switch_up = result.origins >= 2000 + 24 * 14  # two weeks into the turbulent regime
    turbulent = switch_up & (result.origins < 3000)
    calm_again = result.origins >= 3000 + 24 * 14
    regimes = {"turbulent": turbulent, "calm again": calm_again}
    cover = {}
    for label, rows in regimes.items():
        mask = result.mask & rows[:, None]
        cover[label] = (
            coverage(*static, result.actuals, mask).overall,
            coverage(*normal, result.actuals, mask).overall,
        )
    # static bands, calibrated on the last four weeks of mostly calm errors, miss the turbulence
    # and then, calibrated on turbulence, are far too wide once it is calm again
    assert cover["turbulent"][0] < 0.72 and cover["calm again"][0] > 0.85
    for label in regimes:
        assert abs(cover[label][1] - 0.8) < 0.05, (label, cover[label])
    static_score = interval_score(*static, result.actuals, 0.8, result.mask).overall
    normal_score = interval_score(*normal, result.actuals, 0.8, result.mask).overall
    assert normal_score < 0.9 * static_score


def test_the_interval_score_is_the_width_plus_the_weighted_misses():
    lower, upper = np.array([[1.0, 1.0, 1.0]]), np.array([[3.0, 3.0, 3.0]])
    actual = np.array([[2.0, 0.5, 4.0]])
    score = interval_score(lower, upper, actual, 0.8)
    # width 2; misses of 0.5 and 1.0 cost 2 / 0.2 = 10 times as much
    np.testing.assert_allclose(score.per_step, [2.0, 7.0, 12.0])
    assert score.overall == pytest.approx(7.0)
    with pytest.raises(DataError, match="between 0 and 1"):
        interval_score(lower, upper, actual, 1.0)


def test_garch_bands_widen_after_turbulence_and_forecast_naive():
    frame, _ = regime_prices(n=3000, switch=1500)
    y = frame["close"]
    model = GarchForecaster(24)
    model.fit(frame.iloc[:2200], y.iloc[:2200])  # it has seen both regimes
    _, alpha, beta = model.params
    assert alpha > 0 and 0.5 < alpha + beta <= 1.0 + 1e-6
    origins = [1400, 2100]  # calm, turbulent
    points = model.predict_at(frame, y, origins)
    np.testing.assert_allclose(points, np.repeat(y.to_numpy()[origins][:, None], 24, axis=1))
    bands = model.predict_bands_at(frame, y, origins, (0.8, 0.95))
    width = {level: np.log(high / low) for level, (low, high) in bands.items()}
    assert (width[0.95] > width[0.8]).all()
    assert (width[0.8][1] > 2.5 * width[0.8][0]).all()  # turbulent vs calm, every step
    assert (np.diff(width[0.8], axis=1) > 0).all()  # wider with every step ahead
    # causal: cutting the future leaves the bands as they were
    cut = 2101
    again = model.predict_bands_at(frame.iloc[:cut], y.iloc[:cut], [2100], (0.8,))
    np.testing.assert_allclose(again[0.8][0], bands[0.8][0][1:])


def test_garch_bands_cover_a_garch_process_at_their_level():
    rng = np.random.default_rng(5)
    n, omega, alpha, beta = 6000, 1e-6, 0.08, 0.9
    var = omega / (1 - alpha - beta)
    changes = np.empty(n)
    for t in range(n):
        changes[t] = rng.normal(0, np.sqrt(var))
        var = omega + alpha * changes[t] ** 2 + beta * var
    price = 100 * np.exp(np.cumsum(changes))
    index = pd.date_range("2024-01-01", periods=n, freq="h", tz="UTC")
    frame = pd.DataFrame({"close": price, "synthetic": False}, index=index)
    spec = FoldSpec.holdout(test=2000, step=6, horizon=6, min_train=200)
    result = backtest(lambda: GarchForecaster(6), frame, frame["close"], spec, levels=(0.8,))
    assert result.bands is not None
    cover = coverage(*result.bands[0.8], result.actuals, result.mask).overall
    assert cover == pytest.approx(0.8, abs=0.03)
