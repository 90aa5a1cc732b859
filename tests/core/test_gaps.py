"""fill_gaps: short gaps filled with flagged synthetic candles, long ones split or fail."""

from __future__ import annotations

import pandas as pd
import pytest

from candlecast.core.errors import ConfigError, DataError
from candlecast.core.market.gaps import Gap, fill_gaps
from candlecast.core.market.validation import validate_candles
from tests.fixtures.series import make_candles

T0 = pd.Timestamp("2024-01-01", tz="UTC")


def at(hour: int) -> pd.Timestamp:
    return T0 + pd.Timedelta(hours=hour)


def with_holes(n: int, missing: list[int]) -> pd.DataFrame:
    candles = make_candles(n)
    return candles.drop(candles.index[missing])


def test_a_series_without_gaps_is_returned_as_it_is():
    candles = make_candles(48)
    filled, report = fill_gaps(candles, "1h", max_gap=3)
    pd.testing.assert_frame_equal(filled, candles)
    assert report.gaps == []
    assert report.summary() == "no gaps"


def test_short_gaps_are_filled_with_the_previous_close_volume_zero_and_flagged():
    original = make_candles(20)
    holey = with_holes(20, [5, 6, 12])
    filled, report = fill_gaps(holey, "1h", max_gap=2)

    assert filled.index.equals(original.index)
    synthetic = filled[filled["synthetic"]]
    assert list(synthetic.index) == [at(5), at(6), at(12)]
    for ts, previous in [(at(5), at(4)), (at(6), at(4)), (at(12), at(11))]:
        close = original.loc[previous, "close"]
        assert filled.loc[ts, ["open", "high", "low", "close"]].tolist() == [close] * 4
        assert filled.loc[ts, "volume"] == 0.0
    # the real candles are untouched
    real = filled[~filled["synthetic"]]
    pd.testing.assert_frame_equal(real, holey)
    assert report.gaps == [Gap(at(5), at(6), 2, True), Gap(at(12), at(12), 1, True)]
    assert report.filled_candles == 3
    assert report.summary() == "3 candle(s) filled in 2 gap(s)"


def test_filled_candles_are_valid_candles():
    filled, _ = fill_gaps(with_holes(30, [3, 4, 20]), "1h", max_gap=3)
    clean, rejections = validate_candles(filled)
    assert rejections.total == 0
    assert len(clean) == 30


def test_split_keeps_the_newest_segment_and_reports_what_was_dropped():
    holey = with_holes(40, [2, 10, 11, 12, 13, 25, 26, 27, 28, 29, 33])
    filled, report = fill_gaps(holey, "1h", max_gap=3, on_long_gap="split")

    # long gaps: 10..13 (4 missing) and 25..29 (5 missing); the newest segment starts at 30
    assert filled.index[0] == at(30)
    assert filled.index[-1] == at(39)
    assert len(filled) == 10
    assert list(filled.index[filled["synthetic"]]) == [at(33)]
    assert report.long_gaps == [Gap(at(10), at(13), 4, False), Gap(at(25), at(29), 5, False)]
    assert [g for g in report.gaps if g.filled] == [Gap(at(33), at(33), 1, True)]
    assert report.dropped_candles == 20  # hours 0..24 less the 5 missing among them
    assert report.dropped_until == at(24)
    assert report.summary() == (
        "1 candle(s) filled in 1 gap(s); "
        "gap of 4 candles from 2024-01-01T10:00:00+00:00 to 2024-01-01T13:00:00+00:00 not filled (max_gap=3); "
        "gap of 5 candles from 2024-01-02T01:00:00+00:00 to 2024-01-02T05:00:00+00:00 not filled (max_gap=3); "
        "series split: 20 candle(s) up to 2024-01-02T00:00:00+00:00 dropped"
    )


def test_fail_names_the_long_gap():
    holey = with_holes(30, list(range(10, 16)))
    with pytest.raises(DataError) as err:
        fill_gaps(holey, "1h", max_gap=5, on_long_gap="fail")
    message = str(err.value)
    assert "gap of 6 missing 1h candles" in message
    assert "2024-01-01T10:00:00+00:00" in message and "2024-01-01T15:00:00+00:00" in message
    assert "max_gap=5" in message


def test_max_gap_zero_fills_nothing():
    holey = with_holes(10, [4])
    filled, report = fill_gaps(holey, "1h", max_gap=0, on_long_gap="split")
    assert list(filled.index) == [at(h) for h in range(5, 10)]
    assert report.long_gaps == [Gap(at(4), at(4), 1, False)]


def test_daily_timeframe():
    candles = make_candles(10, timeframe="1D")
    holey = candles.drop(candles.index[[3]])
    filled, report = fill_gaps(holey, "1d", max_gap=1)
    assert filled.index.equals(candles.index)
    assert report.gaps == [Gap(candles.index[3], candles.index[3], 1, True)]


def test_existing_synthetic_flags_are_kept():
    candles = make_candles(10)
    candles.loc[candles.index[2], "synthetic"] = True
    filled, _ = fill_gaps(candles.drop(candles.index[6]), "1h", max_gap=1)
    assert list(filled.index[filled["synthetic"]]) == [at(2), at(6)]
    assert filled["synthetic"].dtype == bool


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"max_gap": -1}, "max_gap must be a non-negative integer"),
        ({"max_gap": 2.5}, "max_gap must be a non-negative integer"),
        (
            {"max_gap": 1, "on_long_gap": "drop"},
            "on_long_gap must be one of split, fail, got 'drop'",
        ),
    ],
)
def test_bad_arguments_are_config_errors(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        fill_gaps(make_candles(5), "1h", **kwargs)


def test_unsorted_or_off_grid_candles_are_data_errors():
    candles = make_candles(5)
    with pytest.raises(DataError, match="strictly increasing"):
        fill_gaps(candles.iloc[[0, 2, 1, 3]], "1h", max_gap=1)
    shifted = candles.copy()
    shifted.index = shifted.index.where(shifted.index != at(3), at(3) + pd.Timedelta(minutes=30))
    with pytest.raises(DataError, match="whole 1h steps apart"):
        fill_gaps(shifted, "1h", max_gap=1)
