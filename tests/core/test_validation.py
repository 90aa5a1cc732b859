"""validate_candles: every kind of bad candle is rejected, counted and shown; good ones kept."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from candlecast.core.market.candles import OHLCV_COLUMNS
from candlecast.core.market.validation import REASONS, Rejections, validate_candles
from tests.fixtures.series import make_candles


def test_clean_candles_pass_unchanged():
    candles = make_candles(200)
    clean, rejections = validate_candles(candles)
    pd.testing.assert_frame_equal(clean, candles)
    assert rejections.total == 0
    assert not rejections
    assert rejections.summary() == "no candles rejected (200 checked)"


@pytest.mark.parametrize(
    ("reason", "column", "value"),
    [
        ("nan", "close", np.nan),
        ("nan", "volume", np.nan),
        ("non_positive_price", "low", 0.0),
        ("non_positive_price", "open", -1.0),
        ("non_positive_price", "high", np.inf),
        ("negative_volume", "volume", -0.5),
        ("high_below_open_close", "high", None),
        ("low_above_open_close", "low", None),
    ],
)
def test_each_bad_value_is_rejected_with_its_reason(reason, column, value):
    candles = make_candles(50)
    bad = [3, 17, 40]
    for row in bad:
        o, c = candles["open"].iloc[row], candles["close"].iloc[row]
        if value is not None:
            v = value
        elif column == "high":
            v = max(o, c) * 0.999  # below the body
        else:
            v = min(o, c) * 1.001  # above the body
        candles.iloc[row, candles.columns.get_loc(column)] = v
    clean, rejections = validate_candles(candles)
    assert rejections.counts == {reason: 3}
    assert len(clean) == 47
    assert not clean.index.isin(candles.index[bad]).any()
    assert [e["timestamp"] for e in rejections.examples[reason]] == list(candles.index[bad])
    assert rejections.summary() == f"rejected 3 of 50 candles: 3 {reason}"


def test_a_row_with_several_faults_counts_once_under_the_first_reason():
    candles = make_candles(10)
    candles.iloc[4, candles.columns.get_loc("close")] = np.nan
    candles.iloc[4, candles.columns.get_loc("volume")] = -1.0
    candles.iloc[6, candles.columns.get_loc("volume")] = -1.0
    candles.iloc[6, candles.columns.get_loc("high")] = 0.5 * candles["low"].iloc[6]
    _, rejections = validate_candles(candles)
    assert rejections.counts == {"nan": 1, "negative_volume": 1}
    assert rejections.total == 2


def test_duplicates_keep_the_first_and_out_of_order_rows_are_rejected():
    candles = make_candles(8)
    hours = [0, 1, 1, 2, 5, 3, 4, 6]  # a repeat of 01:00, then 03:00 and 04:00 after 05:00
    candles.index = pd.DatetimeIndex(
        [pd.Timestamp("2024-01-01", tz="UTC") + pd.Timedelta(hours=h) for h in hours],
        name="timestamp",
    )
    clean, rejections = validate_candles(candles)
    assert rejections.counts == {"duplicate_timestamp": 1, "timestamp_out_of_order": 2}
    assert list(clean.index.hour) == [0, 1, 2, 5, 6]
    assert clean["close"].iloc[1] == candles["close"].iloc[1]  # the first 01:00 row
    assert [e["timestamp"].hour for e in rejections.examples["timestamp_out_of_order"]] == [3, 4]


def test_a_bad_row_does_not_decide_the_order_of_good_ones():
    candles = make_candles(4)
    candles.index = pd.DatetimeIndex(
        pd.to_datetime(
            ["2024-01-01 00:00", "2024-01-01 09:00", "2024-01-01 01:00", "2024-01-01 02:00"],
            utc=True,
        ),
        name="timestamp",
    )
    candles.iloc[1, candles.columns.get_loc("close")] = np.nan  # the 09:00 row is broken
    clean, rejections = validate_candles(candles)
    assert rejections.counts == {"nan": 1}
    assert list(clean.index.hour) == [0, 1, 2]


def test_examples_are_capped_at_five_per_reason_and_counts_are_not():
    candles = make_candles(30)
    candles["volume"] = -1.0
    _, rejections = validate_candles(candles)
    assert rejections.counts == {"negative_volume": 30}
    assert len(rejections.examples["negative_volume"]) == 5
    assert rejections.examples["negative_volume"][0]["volume"] == -1.0


def test_merged_adds_counts_and_keeps_at_most_five_examples():
    a = make_candles(10)
    a["volume"] = -1.0
    b = make_candles(4, start="2024-02-01")
    b.iloc[0, b.columns.get_loc("open")] = np.nan
    b.iloc[1, b.columns.get_loc("volume")] = -2.0
    _, ra = validate_candles(a)
    _, rb = validate_candles(b)
    both = Rejections().merged(ra).merged(rb)
    assert both.checked == 14
    assert both.counts == {"nan": 1, "negative_volume": 11}
    assert list(both.counts) == ["nan", "negative_volume"]  # the REASONS order
    assert len(both.examples["negative_volume"]) == 5
    assert both.summary() == "rejected 12 of 14 candles: 1 nan, 11 negative_volume"


def test_a_frame_without_the_synthetic_column_is_accepted():
    candles = make_candles(5).drop(columns="synthetic")
    clean, rejections = validate_candles(candles)
    assert list(clean["synthetic"]) == [False] * 5
    assert rejections.total == 0


_values = st.one_of(
    st.floats(min_value=-5, max_value=200, allow_nan=False),
    st.just(float("nan")),
    st.just(float("inf")),
    st.just(0.0),
)


@st.composite
def messy_frames(draw):
    n = draw(st.integers(0, 25))
    hours = draw(st.lists(st.integers(0, 30), min_size=n, max_size=n))
    rows = [draw(st.lists(_values, min_size=5, max_size=5)) for _ in range(n)]
    index = pd.DatetimeIndex(
        [pd.Timestamp("2024-01-01", tz="UTC") + pd.Timedelta(hours=h) for h in hours],
        tz="UTC",
        name="timestamp",
    )
    frame = pd.DataFrame(
        np.asarray(rows, dtype="float64").reshape(n, 5), columns=list(OHLCV_COLUMNS), index=index
    )
    frame["synthetic"] = False
    return frame


def _values_ok(row) -> bool:
    o, h, lo, c, v = (row[k] for k in OHLCV_COLUMNS)
    prices = [o, h, lo, c]
    return (
        all(np.isfinite(p) and p > 0 for p in prices)
        and np.isfinite(v)
        and v >= 0
        and h >= max(o, c)
        and lo <= min(o, c)
    )


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(messy_frames())
def test_property_clean_rows_are_exactly_the_valid_in_order_rows(frame):
    clean, rejections = validate_candles(frame)
    # nothing is silently dropped
    assert len(clean) + rejections.total == len(frame)
    assert rejections.checked == len(frame)
    assert set(rejections.counts) <= set(REASONS)
    assert all(len(rows) <= 5 for rows in rejections.examples.values())
    # the clean frame is a valid candle series
    assert clean.index.is_monotonic_increasing and clean.index.is_unique
    assert all(_values_ok(row) for _, row in clean.iterrows())
    # ... and it is the greedy reading: each value-valid row later than every kept row is kept
    expected, newest = [], None
    for position, (ts, row) in enumerate(frame.iterrows()):
        if _values_ok(row) and (newest is None or ts > newest):
            expected.append(position)
            newest = ts
    pd.testing.assert_frame_equal(clean, frame.iloc[expected])
