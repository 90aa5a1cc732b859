"""Metrics against numbers computed by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from candlecast.core.errors import DataError
from candlecast.core.evaluation.metrics import (
    coverage,
    directional_accuracy,
    mae,
    mase,
    mean_width,
    naive_scale,
    rmse,
    smape,
)

# Two origins, two steps. Errors f - a: [[-1, 0], [2, -4]].
F = np.array([[1.0, 2.0], [3.0, 4.0]])
A = np.array([[2.0, 2.0], [1.0, 8.0]])


def test_mae_per_step_and_overall() -> None:
    score = mae(F, A)
    np.testing.assert_allclose(score.per_step, [1.5, 2.0])
    assert score.overall == pytest.approx(7 / 4)


def test_rmse_per_step_and_overall() -> None:
    score = rmse(F, A)
    np.testing.assert_allclose(score.per_step, [math.sqrt(5 / 2), math.sqrt(16 / 2)])
    assert score.overall == pytest.approx(math.sqrt(21 / 4))


def test_smape_is_in_percent() -> None:
    # cells: 200*1/3, 0, 200*2/4, 200*4/12
    score = smape(F, A)
    np.testing.assert_allclose(score.per_step, [(200 / 3 + 100) / 2, (0 + 200 / 3) / 2])
    assert score.overall == pytest.approx((200 / 3 + 0 + 100 + 200 / 3) / 4)


def test_smape_of_two_zeros_is_zero() -> None:
    assert smape(np.zeros((1, 2)), np.zeros((1, 2))).overall == 0.0


def test_mase_divides_mae_by_the_scale() -> None:
    score = mase(F, A, scale=2.0)
    np.testing.assert_allclose(score.per_step, [0.75, 1.0])
    assert score.overall == pytest.approx(0.875)


def test_naive_scale_is_the_mean_absolute_one_step_change() -> None:
    y = np.array([1.0, 3.0, 2.0, 6.0])
    assert naive_scale(y) == pytest.approx((2 + 1 + 4) / 3)
    assert naive_scale(y, period=2) == pytest.approx((1 + 3) / 2)
    # the synthetic third value breaks both pairs it belongs to
    assert naive_scale(y, mask=np.array([True, True, False, True])) == pytest.approx(2.0)


def test_naive_scale_of_a_constant_series_is_refused() -> None:
    with pytest.raises(DataError, match="constant"):
        naive_scale(np.ones(10))
    with pytest.raises(DataError, match="at least 2 counted training values"):
        naive_scale(np.array([1.0]))


def test_mase_refuses_a_scale_that_is_not_positive() -> None:
    with pytest.raises(DataError, match="scale must be a positive finite number"):
        mase(F, A, scale=0.0)


def test_masked_cells_count_nowhere() -> None:
    mask = np.array([[True, False], [True, True]])
    score = mae(F, A, mask)
    np.testing.assert_allclose(score.per_step, [1.5, 4.0])
    assert score.overall == pytest.approx((1 + 2 + 4) / 3)


def test_a_step_without_counted_cells_is_nan() -> None:
    score = mae(F, A, np.array([[True, False], [True, False]]))
    assert score.per_step[0] == pytest.approx(1.5)
    assert math.isnan(score.per_step[1])
    assert math.isnan(mae(F, A, np.zeros((2, 2), dtype=bool)).overall)


def test_non_finite_actuals_are_not_counted() -> None:
    actual = A.copy()
    actual[1, 1] = np.nan
    assert mae(F, actual).overall == pytest.approx((1 + 0 + 2) / 3)


def test_directional_accuracy_compares_signs_from_the_origin() -> None:
    # forecast moves [[-, +], [+, +]]; actual moves [[+, +], [-, +]]
    score = directional_accuracy(F, A, origin_values=np.array([1.5, 2.0]))
    np.testing.assert_allclose(score.per_step, [0.0, 1.0])
    assert score.overall == pytest.approx(0.5)


def test_a_flat_forecast_is_right_only_about_flat_actuals() -> None:
    flat = np.full((1, 3), 5.0)
    actual = np.array([[5.0, 6.0, 4.0]])
    assert directional_accuracy(flat, actual, np.array([5.0])).overall == pytest.approx(1 / 3)


def test_coverage_and_width() -> None:
    lower = np.array([[0.0, 1.0], [2.0, 5.0]])
    upper = np.array([[2.0, 3.0], [4.0, 9.0]])
    # inside: 2 in [0,2] yes (bound included), 2 in [1,3] yes, 1 in [2,4] no, 8 in [5,9] yes
    cover = coverage(lower, upper, A)
    np.testing.assert_allclose(cover.per_step, [0.5, 1.0])
    assert cover.overall == pytest.approx(0.75)
    width = mean_width(lower, upper)
    np.testing.assert_allclose(width.per_step, [2.0, 3.0])
    assert width.overall == pytest.approx(2.5)


def test_a_single_forecast_row_may_be_one_dimensional() -> None:
    assert mae(np.array([1.0, 2.0]), np.array([2.0, 4.0])).overall == pytest.approx(1.5)


def test_shapes_must_match() -> None:
    with pytest.raises(DataError, match=r"forecast \(2, 2\), actual \(2, 3\)"):
        mae(F, np.ones((2, 3)))
    with pytest.raises(DataError, match="mask has shape"):
        mae(F, A, np.ones((3, 2), dtype=bool))
    with pytest.raises(DataError, match="one per origin"):
        directional_accuracy(F, A, np.array([1.0]))
