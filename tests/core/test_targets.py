"""Target transforms: exact inverses, also as properties over arbitrary positive series."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from candlecast.core.errors import ConfigError, DataError
from candlecast.core.models.targets import TRANSFORMS, get_transform, target_series

positive = arrays(
    np.float64,
    st.integers(3, 40),
    elements=st.floats(1e-3, 1e6, allow_nan=False, allow_infinity=False),
)


@settings(max_examples=60, deadline=None)
@given(values=positive, horizon=st.integers(1, 5), name=st.sampled_from(sorted(TRANSFORMS)))
def test_decode_inverts_encode_exactly(values, horizon, name):
    transform = get_transform(name)
    n = len(values)
    horizon = min(horizon, n - 1)
    origins = np.arange(0, n - horizon)
    future = values[origins[:, None] + np.arange(1, horizon + 1)]
    encoded = transform.encode(future, values[origins])
    # exact up to float rounding at the scale of the values involved
    scale = np.abs(values).max()
    np.testing.assert_allclose(
        transform.decode(encoded, values[origins]), future, rtol=1e-9, atol=1e-12 * scale
    )


def test_log_return_is_relative_to_the_origin():
    transform = get_transform("log_return")
    z = transform.encode(np.array([[110.0, 121.0]]), np.array([100.0]))
    np.testing.assert_allclose(z, np.log([[1.1, 1.21]]))


def test_step_changes_are_the_input_channel():
    values = np.array([100.0, 110.0, 99.0])
    np.testing.assert_allclose(
        get_transform("log_return").step_changes(values), [0.0, np.log(1.1), np.log(0.9)]
    )
    np.testing.assert_allclose(get_transform("level").step_changes(values), values)


def test_log_transforms_reject_non_positive_values():
    with pytest.raises(DataError, match="positive values"):
        get_transform("log_return").forward(np.array([1.0, 0.0]))


def test_unknown_names_list_the_allowed(candles):
    with pytest.raises(ConfigError, match="allowed: log_return"):
        get_transform("sqrt")
    with pytest.raises(ConfigError, match="allowed: close"):
        target_series(candles, "vwap")
    assert (target_series(candles, "range") == candles["high"] - candles["low"]).all()
