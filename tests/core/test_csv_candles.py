"""read_candle_csv: timestamp notations, and a clear DataError for each kind of broken file."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from candlecast.core.errors import DataError
from candlecast.core.market.csv_file import read_candle_csv

HEADER = "timestamp,open,high,low,close,volume\n"


def write(tmp_path, text: str, name: str = "candles.csv") -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def utc(*texts: str) -> list[pd.Timestamp]:
    return [pd.Timestamp(t, tz="UTC") for t in texts]


def test_reads_an_exchange_export(candles_csv, candles):
    frame = read_candle_csv(candles_csv)
    assert frame.index.equals(candles.index)
    assert frame.index.name == "timestamp"
    assert str(frame.index.tz) == "UTC"
    np.testing.assert_allclose(
        frame[["open", "high", "low", "close", "volume"]],
        candles.drop(columns="synthetic"),
        rtol=1e-15,
    )
    assert frame["synthetic"].dtype == bool and not frame["synthetic"].any()
    assert list(frame.columns) == ["open", "high", "low", "close", "volume", "synthetic"]


def test_extra_columns_are_ignored_and_header_case_does_not_matter(tmp_path):
    path = write(
        tmp_path,
        "Timestamp, Open,HIGH,low,close,volume,volume_quote,trades\n"
        "2024-01-01 00:00:00,1,2,0.5,1.5,10,15,\n"
        "2024-01-01 01:00:00,1.5,2.5,1,2,20,40,7\n",
    )
    frame = read_candle_csv(path)
    assert list(frame.index) == utc("2024-01-01 00:00", "2024-01-01 01:00")
    assert frame.loc[frame.index[1]].tolist() == [1.5, 2.5, 1.0, 2.0, 20.0, False]


def test_offsets_are_converted_to_utc(tmp_path):
    path = write(
        tmp_path,
        HEADER + "2024-01-01T02:00:00+02:00,1,2,0.5,1.5,1\n"
        "2024-01-01T01:00:00Z,1,2,0.5,1.5,1\n"
        "2024-01-01T00:00:00-02:00,1,2,0.5,1.5,1\n",
    )
    assert list(read_candle_csv(path).index) == utc(
        "2024-01-01 00:00", "2024-01-01 01:00", "2024-01-01 02:00"
    )


@pytest.mark.parametrize(
    ("stamps", "expected"),
    [
        (["1704067200", "1704070800"], ["2024-01-01 00:00", "2024-01-01 01:00"]),
        (["1704067200000", "1704070800000"], ["2024-01-01 00:00", "2024-01-01 01:00"]),
        (["1704067200.0", "1704070800.0"], ["2024-01-01 00:00", "2024-01-01 01:00"]),
    ],
)
def test_epoch_seconds_and_milliseconds(tmp_path, stamps, expected):
    path = write(tmp_path, HEADER + "".join(f"{s},1,2,0.5,1.5,1\n" for s in stamps))
    assert list(read_candle_csv(path).index) == utc(*expected)


def test_identical_duplicate_rows_are_dropped(tmp_path):
    path = write(
        tmp_path,
        HEADER + "2024-01-01 00:00:00,1,2,0.5,1.5,1\n"
        "2024-01-01 01:00:00,1,2,0.5,1.5,2\n"
        "2024-01-01 01:00:00,1,2,0.5,1.5,2\n"
        "2024-01-01 02:00:00,1,2,0.5,1.5,3\n",
    )
    frame = read_candle_csv(path)
    assert list(frame["volume"]) == [1.0, 2.0, 3.0]


def test_values_are_not_judged_here(tmp_path):
    path = write(tmp_path, HEADER + "2024-01-01 00:00:00,-1,,0.5,1.5,-3\n")
    frame = read_candle_csv(path)
    assert frame["open"].iloc[0] == -1.0
    assert np.isnan(frame["high"].iloc[0])
    assert frame["volume"].iloc[0] == -3.0


@pytest.mark.parametrize(
    ("text", "fragments"),
    [
        ("", ["is empty", "timestamp,open,high,low,close,volume"]),
        (HEADER, ["has a header but no rows"]),
        (
            "time,open,high,close\n2024-01-01,1,2,3\n",
            ["lacks the column(s) timestamp, low, volume", "found time, open, high, close"],
        ),
        (
            HEADER + "2024-01-01 00:00:00,1,2,0.5,1.5,1\nyesterday,1,2,0.5,1.5,1\n",
            ["'yesterday'", "row 2 (line 3)", "not an ISO 8601 date-time"],
        ),
        (
            HEADER + "2024-01-01 00:00:00,1,2,0.5,1.5,1\n2024-01-01T01:00:00Z,1,2,0.5,1.5,1\n",
            [
                "mix timezone notations",
                "row 1 (line 2) has no UTC offset",
                "row 2 (line 3) has one",
            ],
        ),
        (
            HEADER + "1704067200,1,2,0.5,1.5,1\n1704070800000,1,2,0.5,1.5,1\n",
            ["mix epoch seconds", "and milliseconds", "row 2 (line 3)"],
        ),
        (
            HEADER + "1704067200,1,2,0.5,1.5,1\n2024-01-01 01:00:00,1,2,0.5,1.5,1\n",
            ["mix epoch numbers", "date-time text"],
        ),
        (
            HEADER + "2024-01-01 01:00:00,1,2,0.5,1.5,1\n2024-01-01 00:00:00,1,2,0.5,1.5,1\n",
            [
                "not sorted",
                "2024-01-01T00:00:00+00:00 in row 2 (line 3)",
                "2024-01-01T01:00:00+00:00 in row 1",
            ],
        ),
        (
            HEADER + "2024-01-01 00:00:00,1,2,0.5,1.5,1\n2024-01-01 00:00:00,1,2,0.5,1.5,9\n",
            [
                "2024-01-01T00:00:00+00:00 appears twice with different values",
                "row 1 (line 2) and row 2 (line 3)",
            ],
        ),
        (
            HEADER + "2024-01-01 00:00:00,1,2,0.5,1.5,1\n2024-01-01 01:00:00,1,two,0.5,1.5,1\n",
            ["high 'two' in row 2 (line 3) is not a number"],
        ),
        (HEADER + ",1,2,0.5,1.5,1\n", ["timestamp is empty in row 1 (line 2)"]),
    ],
    ids=[
        "empty-file",
        "header-only",
        "wrong-columns",
        "unparseable-timestamp",
        "mixed-timezones",
        "mixed-epoch-units",
        "mixed-notations",
        "unsorted",
        "conflicting-duplicate",
        "non-numeric-value",
        "empty-timestamp",
    ],
)
def test_broken_files_raise_a_data_error_that_says_what_and_where(tmp_path, text, fragments):
    path = write(tmp_path, text)
    with pytest.raises(DataError) as err:
        read_candle_csv(path)
    message = str(err.value)
    assert path in message
    for fragment in fragments:
        assert fragment in message


def test_a_missing_file_or_a_folder_is_a_data_error(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        read_candle_csv(tmp_path / "nope.csv")
    with pytest.raises(DataError, match="is not a file"):
        read_candle_csv(tmp_path)


@pytest.mark.parametrize("missing", ["", "NaN", "nan", "null", "NULL", "None", "NA", "N/A"])
def test_a_missing_value_is_nan_however_it_is_written(tmp_path, missing):
    """A literal `null` is a missing value like an empty cell: rejected per row by validation,
    never a failure of the whole file."""
    path = write(
        tmp_path,
        HEADER + "2024-01-01 00:00:00,1,2,0.5,1.5,1\n"
        f"2024-01-01 01:00:00,1.5,2.5,1,{missing},2\n"
        "2024-01-01 02:00:00,1.5,2.5,1,2,3\n",
    )
    frame = read_candle_csv(path)
    assert np.isnan(frame["close"].iloc[1]) and frame["close"].iloc[[0, 2]].tolist() == [1.5, 2.0]


@pytest.mark.parametrize(("delimiter", "name"), [(";", "semicolons"), ("\t", "tabs"), ("|", "'|'")])
def test_files_separated_by_semicolons_tabs_or_bars_are_read(tmp_path, delimiter, name):
    path = write(
        tmp_path,
        HEADER.replace(",", delimiter)
        + "2024-01-01 00:00:00;1;2;0.5;1.5;1\n".replace(";", delimiter)
        + "2024-01-01 01:00:00;1.5;2.5;1;2;2\n".replace(";", delimiter),
    )
    frame = read_candle_csv(path)
    assert list(frame.index) == utc("2024-01-01 00:00", "2024-01-01 01:00")
    assert frame["close"].tolist() == [1.5, 2.0]
    # a file whose header lacks a column says which delimiter it was read with
    bad = write(tmp_path, f"time{delimiter}open\n1{delimiter}2\n", name="bad.csv")
    with pytest.raises(DataError) as err:
        read_candle_csv(bad)
    assert f"found time, open (columns separated by {name})" in str(err.value)


def test_a_decimal_comma_is_named_in_the_error(tmp_path):
    path = write(tmp_path, HEADER.replace(",", ";") + "2024-01-01 00:00:00;1;2;0,5;1,5;1\n")
    with pytest.raises(DataError) as err:
        read_candle_csv(path)
    assert str(err.value) == (
        f"{path}: low '0,5' in row 1 (line 2) is not a number; decimal commas are not read: "
        "use '.' as the decimal separator"
    )
