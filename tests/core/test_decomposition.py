"""Four-part decomposition: the parts add up, planted seasonality comes back, short histories
drop the periods they cannot support and say why."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from statsmodels.tsa.filters.hp_filter import hpfilter

from candlecast.core.decomposition import (
    MIN_OBSERVATIONS,
    decompose,
    decompose_candles,
    hp_lambda,
    trend_cutoff,
)
from candlecast.core.errors import ConfigError, DataError
from tests.fixtures.series import make_candles

HOURS_PER_WEEK = 168


def hourly(values: np.ndarray, start: str = "2024-01-01") -> pd.Series:
    index = pd.date_range(start, periods=len(values), freq="h", tz="UTC", name="timestamp")
    return pd.Series(values, index=index, name="y")


def planted_series(n: int, seed: int = 0) -> tuple[pd.Series, np.ndarray, np.ndarray]:
    """A random-walk level plus a daily (0.02) and a weekly (0.01) sine, and small noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    daily = 0.02 * np.sin(2 * np.pi * t / 24)
    weekly = 0.01 * np.sin(2 * np.pi * t / HOURS_PER_WEEK)
    level = 4.6 + np.cumsum(rng.normal(0, 0.001, n))
    return hourly(level + daily + weekly + rng.normal(0, 0.002, n)), daily, weekly


def test_the_four_parts_add_up_to_the_series() -> None:
    y, _, _ = planted_series(24 * 7 * 6)

    result = decompose(y, "1h")

    parts = result.components
    assert list(parts.columns) == [
        "trend",
        "cycle",
        "seasonal",
        "irregular",
        "seasonal_24",
        "seasonal_168",
    ]
    total = parts[["trend", "cycle", "seasonal", "irregular"]].sum(axis=1)
    np.testing.assert_allclose(total.to_numpy(), y.to_numpy(), rtol=0, atol=1e-12)
    np.testing.assert_allclose(
        parts["seasonal"], parts["seasonal_24"] + parts["seasonal_168"], rtol=0, atol=1e-12
    )
    assert parts.index.equals(y.index)
    assert result.periods == (24, 168)
    assert result.dropped == {}
    assert result.method.startswith("MSTL(periods=(24, 168), windows=(23, 31), local constant)")
    assert result.cycle_lambda == pytest.approx(hp_lambda(4 * 168))


def test_daily_and_weekly_seasonality_are_recovered() -> None:
    y, daily, weekly = planted_series(24 * 7 * 12, seed=2)

    parts = decompose(y, "1h").components

    # The weekly season has 12 cycles to learn from, against a wandering level: looser.
    for column, truth, most in (("seasonal_24", daily, 0.1), ("seasonal_168", weekly, 0.3)):
        estimate = parts[column].to_numpy()
        assert np.corrcoef(estimate, truth)[0, 1] > 0.97, column
        rmse = math.sqrt(np.mean((estimate - truth) ** 2))
        assert rmse < most * truth.std(), column
    # What is left over is the noise (sd 0.002), not the seasons (sd 0.016 together).
    assert parts["irregular"].std() < 0.003


def test_a_short_history_drops_the_weekly_period_and_says_why() -> None:
    y, _, _ = planted_series(300)

    result = decompose(y, "1h")

    assert result.periods == (24,)
    assert set(result.dropped) == {168}
    assert "336" in result.dropped[168] and "300" in result.dropped[168]
    assert list(result.components.columns) == [
        "trend",
        "cycle",
        "seasonal",
        "irregular",
        "seasonal_24",
    ]
    assert result.method.startswith("STL(period=24, seasonal=23, local constant)")
    np.testing.assert_allclose(result.observed, y, rtol=0, atol=1e-12)


def test_with_no_period_left_the_seasonal_part_is_zero_and_there_are_still_four_parts() -> None:
    y, _, _ = planted_series(40)

    result = decompose(y, "1h")

    assert result.periods == ()
    assert set(result.dropped) == {24, 168}
    assert list(result.components.columns) == ["trend", "cycle", "seasonal", "irregular"]
    assert (result.seasonal == 0).all()
    np.testing.assert_allclose(result.observed, y, rtol=0, atol=1e-12)


def test_a_spike_stays_in_the_irregular_part_and_a_step_in_the_level() -> None:
    y, _, _ = planted_series(24 * 7 * 4, seed=1)
    values = y.to_numpy().copy()
    values[200] += 0.05  # one-candle spike
    values[400:] += 0.04  # level shift from candle 400 on

    clean = decompose(y, "1h")
    planted = decompose(hourly(values), "1h")

    irregular = planted.irregular.to_numpy()
    assert irregular[200] - clean.irregular.iloc[200] == pytest.approx(0.05, abs=0.003)
    assert np.abs(irregular[395:405]).max() < 0.01
    step = planted.level.iloc[400:403].mean() - planted.level.iloc[397:400].mean()
    clean_step = clean.level.iloc[400:403].mean() - clean.level.iloc[397:400].mean()
    assert step - clean_step == pytest.approx(0.04, abs=0.003)
    # Neither leaked into the seasonal part (the same hours of the neighbouring days).
    leak = np.abs(planted.seasonal.to_numpy() - clean.seasonal.to_numpy())
    assert leak.max() < 0.002


def test_hp_lambda_passes_half_of_a_fluctuation_at_the_cutoff() -> None:
    t = np.arange(6000)
    wave = np.sin(2 * np.pi * t / 300)

    _, trend = hpfilter(wave, hp_lambda(300))

    middle = slice(1500, 4500)
    assert np.abs(trend[middle]).max() == pytest.approx(0.5, abs=0.02)
    assert trend_cutoff("1h") == 672
    assert trend_cutoff("1d") == 28


def test_candles_are_decomposed_on_a_log_scale() -> None:
    frame = make_candles(24 * 7 * 3)

    result = decompose_candles(frame, "1h")

    assert result.scale == "log"
    assert result.method.startswith("log(close)")
    np.testing.assert_allclose(result.observed, np.log(frame["close"]), rtol=0, atol=1e-12)


def test_explicit_periods_and_lambda_are_used() -> None:
    y, _, _ = planted_series(24 * 7 * 3)

    result = decompose(y, "1h", periods=[24], cycle_lambda=1e6)

    assert result.periods == (24,)
    assert result.cycle_lambda == 1e6
    assert "lambda=1e+06" in result.method


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (
            np.arange(10, dtype=float),
            f"y has 10 values; decompose needs at least {MIN_OBSERVATIONS}",
        ),
        (np.r_[np.ones(30), np.nan, np.ones(5), np.nan], "2 missing or infinite value(s)"),
    ],
)
def test_short_or_incomplete_input_is_a_data_error(values: np.ndarray, message: str) -> None:
    with pytest.raises(DataError) as error:
        decompose(hourly(values), "1h")
    assert message in str(error.value)


def test_non_positive_prices_cannot_be_decomposed_on_a_log_scale() -> None:
    frame = make_candles(100)
    frame.iloc[50, frame.columns.get_loc("close")] = 0.0

    with pytest.raises(DataError, match=r"close must be positive .* 1 value\(s\) are not"):
        decompose_candles(frame, "1h")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"periods": [24, 1]}, "periods must be integers of at least 2 candles, got 1"),
        ({"periods": [24.5]}, "got 24.5"),
        ({"cycle_lambda": -1.0}, "cycle_lambda must be a positive number, got -1.0"),
    ],
)
def test_bad_settings_are_config_errors(kwargs: dict, message: str) -> None:
    y, _, _ = planted_series(400)
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        decompose(y, "1h", **kwargs)
