"""Windows, scaling and causal features."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from candlecast.core.errors import DataError
from candlecast.core.models.features import calendar_features, future_index, input_channels
from candlecast.core.models.scaling import apply_standardizer, fit_standardizer, invert_standardizer
from candlecast.core.models.targets import get_transform
from candlecast.core.models.windows import future_values, input_windows, training_origins


@settings(max_examples=60, deadline=None)
@given(n=st.integers(5, 80), window=st.integers(1, 10), horizon=st.integers(1, 6))
def test_windows_hold_exactly_the_positions_they_claim(n, window, horizon):
    values = np.arange(n, dtype="float64")
    if n < window + horizon + 1:
        with pytest.raises(DataError, match="too short"):
            training_origins(n, window, horizon)
        return
    origins = training_origins(n, window, horizon)
    x = input_windows(values[:, None], origins, window)  # [samples, window, 1]
    y = future_values(values, origins, horizon)  # [samples, horizon]
    assert x.shape == (len(origins), window, 1) and y.shape == (len(origins), horizon)
    for i, o in enumerate(origins):
        assert list(x[i, :, 0]) == list(range(o - window + 1, o + 1))  # ends at the origin
        assert list(y[i]) == list(range(o + 1, o + horizon + 1))  # strictly after it
    assert origins[0] == window and origins[-1] == n - horizon - 1


def test_input_windows_reject_origins_outside_the_series():
    with pytest.raises(DataError, match="origins must lie in"):
        input_windows(np.zeros((10, 1)), np.array([2]), window=5)


def test_scaler_uses_only_what_it_is_fitted_on():
    train = np.array([[1.0], [3.0]])
    scaler = fit_standardizer(train)
    assert scaler.mean[0] == 2.0 and scaler.std[0] == 1.0
    z = apply_standardizer(scaler, np.array([[5.0]]))
    assert z[0, 0] == 3.0
    np.testing.assert_allclose(invert_standardizer(scaler, z), [[5.0]])
    weighted = fit_standardizer(np.array([[1.0], [100.0]]), weights=np.array([1, 0]))
    assert weighted.mean[0] == 1.0  # the synthetic row did not count


def test_constant_columns_do_not_divide_by_zero():
    scaler = fit_standardizer(np.ones((5, 1)))
    assert scaler.std[0] == 1.0


def test_inputs_at_t_do_not_move_when_the_future_changes(candles):
    """Causality: perturb everything after t; every channel up to t stays the same."""
    features = ["calendar", "volume", "trend", "range"]
    transform = get_transform("log_return")
    t = 400
    before, names = input_channels(candles, candles["close"], transform, features, "1h")
    future = candles.copy()
    future.iloc[t + 1 :, :5] *= 3.7
    after, _ = input_channels(future, future["close"], transform, features, "1h")
    np.testing.assert_array_equal(before[: t + 1], after[: t + 1])
    assert not np.allclose(before[t + 1 :], after[t + 1 :])
    assert names[0] == "target" and "hour_sin" in names and "trend" in names


def test_calendar_phases():
    index = pd.DatetimeIndex(["2024-01-01 00:00", "2024-01-01 06:00"], tz="UTC")  # a Monday
    cal = calendar_features(index, "1h")
    np.testing.assert_allclose(cal[0], [0.0, 1.0, 0.0, 1.0], atol=1e-12)
    np.testing.assert_allclose(cal[1, :2], [1.0, 0.0], atol=1e-12)  # a quarter day
    assert calendar_features(index, "1d").shape[1] == 2  # no hour of day for daily candles
    future = future_index(pd.Timestamp("2024-01-01", tz="UTC"), "1h", 3)
    assert list(future) == list(pd.date_range("2024-01-01 01:00", periods=3, freq="h", tz="UTC"))
