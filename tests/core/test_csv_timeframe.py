"""A candle file against the series' timeframe (issue 15, point 3): its spacing is inferred and
a mismatch refused naming both; stamps at candle close times are moved to open times with a
note; other stamps off the grid are refused with the convention named."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from candlecast.core.errors import DataError
from candlecast.core.market.csv_timeframe import duration_name, fit_timeframe, usual_step_ms
from candlecast.core.market.timeframes import off_grid
from tests.fixtures.series import make_candles


def shifted(frame: pd.DataFrame, by: pd.Timedelta) -> pd.DataFrame:
    out = frame.copy()
    out.index = out.index + by
    return out


def test_an_hourly_file_on_the_grid_fits_1h_unchanged():
    frame = make_candles(48)
    fitted, note = fit_timeframe(frame, "1h", "a.csv")
    assert note is None and fitted is frame


def test_gaps_do_not_change_the_spacing():
    frame = make_candles(48).drop(make_candles(48).index[[5, 6, 7, 20, 30]])
    assert fit_timeframe(frame, "1h", "a.csv")[1] is None


@pytest.mark.parametrize(
    ("file_timeframe", "rows", "message"),
    [
        (
            "4h",
            60,
            "candle CSV h4.csv holds 4h candles (59 of its 59 steps between rows are 4h), but "
            "the series' timeframe is 1h; run with --timeframe 4h (source.timeframe), or give a "
            "file of 1h candles",
        ),
        (
            "1d",
            30,
            "candle CSV h4.csv holds 1d candles (29 of its 29 steps between rows are 1d), but "
            "the series' timeframe is 1h; run with --timeframe 1d (source.timeframe), or give a "
            "file of 1h candles",
        ),
    ],
)
def test_a_file_of_another_timeframe_is_refused_naming_both(file_timeframe, rows, message):
    hours = {"4h": "4h", "1d": "24h"}[file_timeframe]  # pandas spells days with a capital D
    frame = make_candles(rows, timeframe=hours)
    with pytest.raises(DataError) as err:
        fit_timeframe(frame, "1h", "h4.csv")
    assert str(err.value) == message
    assert fit_timeframe(frame, file_timeframe, "h4.csv")[1] is None  # under its own timeframe


@pytest.mark.parametrize("before", [pd.Timedelta(seconds=1), pd.Timedelta(milliseconds=1)])
def test_close_time_stamps_are_moved_to_open_times_with_a_note(before):
    frame = make_candles(30)
    closes = shifted(frame, pd.Timedelta(hours=1) - before)  # 00:59:59 for the 00:00 candle
    fitted, note = fit_timeframe(closes, "1h", "c.csv")
    pd.testing.assert_frame_equal(fitted, frame, check_freq=False)
    shown = "00:59:59" if before.seconds else "00:59:59.999"
    unit = "1s" if before.seconds else "1 ms"
    assert note == (
        f"c.csv stamps candles at their close time (2024-01-01 {shown} is {unit} before the 1h "
        "grid); candlecast stamps a candle with its open time, so all 30 were moved to their "
        f"open times (2024-01-01 {shown} -> 2024-01-01 00:00:00)"
    )


def test_weekly_close_stamps_move_to_the_monday_that_opens_the_week():
    mondays = pd.date_range("2024-01-01", periods=10, freq="7D", tz="UTC", name="timestamp")
    frame = make_candles(10, timeframe="168h")
    frame.index = mondays
    sundays = shifted(frame, pd.Timedelta(days=7) - pd.Timedelta(seconds=1))
    fitted, note = fit_timeframe(sundays, "1w", "w.csv")
    assert list(fitted.index) == list(mondays) and "moved to their open times" in note


def test_other_stamps_off_the_grid_are_refused_naming_the_open_time_convention():
    frame = shifted(make_candles(30), pd.Timedelta(minutes=30))
    with pytest.raises(DataError) as err:
        fit_timeframe(frame, "1h", "half.csv")
    assert str(err.value) == (
        "candle CSV half.csv: timestamp 2024-01-01 00:30:00 is not the open time of a 1h candle "
        "(30 of 30 rows are off the grid); candlecast stamps each candle with the time it opens, "
        "on the 1h grid (2024-01-01 00:00:00, 2024-01-01 01:00:00, ... UTC): shift the file's "
        "timestamps to open times"
    )


def test_one_stamp_off_the_grid_among_good_ones_is_refused_not_moved():
    frame = make_candles(30)
    index = list(frame.index)
    index[10] = index[10] + pd.Timedelta(hours=1) - pd.Timedelta(seconds=1)
    frame.index = pd.DatetimeIndex(index, name="timestamp")
    with pytest.raises(DataError, match=r"timestamp 2024-01-01 10:59:59 .* \(1 of 30 rows"):
        fit_timeframe(frame, "1h", "one.csv")


def test_spacing_and_grid_helpers():
    assert [duration_name(ms) for ms in (1000, 60_000, 5_400_000, 14_400_000, 86_400_000)] == [
        "1s",
        "1m",
        "90m",
        "4h",
        "1d",
    ]
    assert usual_step_ms(np.array([0, 10, 20, 50])) == (10, 2, 3)
    assert usual_step_ms(np.array([0, 10])) is None  # one step: a gap or the spacing?
    monday = pd.Timestamp("2024-01-01", tz="UTC").value // 1_000_000
    day = 86_400_000
    assert off_grid(np.array([monday, monday + 7 * day, monday + 8 * day]), "1w").tolist() == [
        False,
        False,
        True,
    ]
