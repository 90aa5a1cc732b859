"""The csv source against a real store (issue 15, points 3, 4 and 6): files checked against the
timeframe before anything is stored, re-exported rows that changed are stored and counted, its
series are labelled `csv` unless source.exchange says otherwise, and a series stored under the
earlier label is pointed out, not silently left behind. On SQLite and PostgreSQL (db_url)."""

from __future__ import annotations

import pandas as pd
import pytest
import sqlalchemy as sa

from candlecast.core.config import SourceConfig
from candlecast.core.errors import DataError
from candlecast.core.market.candles import SeriesKey
from candlecast.core.storage.candle_store import CandleStore
from candlecast.plugins.sources.csv_source import CsvSource
from tests.fixtures.series import make_candles

KEY = SeriesKey("csv", "BTC/USDT", "1h")


@pytest.fixture
def store(db_url):
    engine = sa.create_engine(db_url)
    store = CandleStore(engine)
    store.create()
    yield store
    engine.dispose()


def write(path, frame: pd.DataFrame, *, stamps: pd.DatetimeIndex | None = None):
    out = frame.drop(columns="synthetic", errors="ignore").copy()
    out.index = (stamps if stamps is not None else out.index).tz_convert(None)
    out.to_csv(path, index_label="timestamp")
    return path


def config(path, **kwargs) -> SourceConfig:
    return SourceConfig(name="csv", path=path, **kwargs)


def test_series_are_labelled_csv_unless_the_exchange_is_named(tmp_path):
    path = tmp_path / "c.csv"
    assert CsvSource().series(config(path)) == [KEY]
    assert CsvSource().series(config(path, exchange="kraken")) == [
        SeriesKey("kraken", "BTC/USDT", "1h")
    ]


def test_a_re_exported_file_with_a_corrected_last_row_overwrites_it_and_counts_it(tmp_path, store):
    candles = make_candles(100)
    path = write(tmp_path / "c.csv", candles.iloc[:99])  # the last row was still forming
    first = CsvSource().sync(config(path), KEY, store)
    assert (first.new_candles, first.corrected) == (99, 0)

    final = candles.copy()
    final.iloc[98, final.columns.get_loc("close")] *= 1.003
    final.iloc[98, final.columns.get_loc("high")] = final.iloc[98][["open", "close", "high"]].max()
    final.iloc[98, final.columns.get_loc("volume")] += 12.0
    write(path, final)  # re-exported: the corrected row and one new one

    again = CsvSource().sync(config(path), KEY, store)

    assert (again.new_candles, again.corrected) == (1, 1)
    assert again.corrected_at == [candles.index[98]]
    assert (again.first, again.last) == (candles.index[99], candles.index[99])
    pd.testing.assert_frame_equal(store.load(KEY), final, check_freq=False)
    assert again.rejected.checked == 100 and again.rejected.total == 0
    assert "1 stored candle(s) corrected with the source's newer values" in again.summary()
    same = CsvSource().sync(config(path), KEY, store)  # the same file again: nothing to do
    assert (same.new_candles, same.corrected) == (0, 0)


def test_close_time_stamps_are_stored_at_open_times_with_a_note(tmp_path, store):
    candles = make_candles(48)
    stamps = candles.index + pd.Timedelta(minutes=59, seconds=59)
    path = write(tmp_path / "c.csv", candles, stamps=stamps)
    report = CsvSource().sync(config(path), KEY, store)
    pd.testing.assert_frame_equal(store.load(KEY), candles, check_freq=False)
    assert report.notes == [
        f"{path} stamps candles at their close time (2024-01-01 00:59:59 is 1s before the 1h "
        "grid); candlecast stamps a candle with its open time, so all 48 were moved to their "
        "open times (2024-01-01 00:59:59 -> 2024-01-01 00:00:00)"
    ]


@pytest.mark.parametrize(("hours", "found"), [("4h", "4h"), ("24h", "1d")])
def test_a_file_of_another_timeframe_is_refused_and_stores_nothing(tmp_path, store, hours, found):
    good = write(tmp_path / "good.csv", make_candles(30))
    CsvSource().sync(config(good), KEY, store)
    before = store.load(KEY)
    other = write(tmp_path / "other.csv", make_candles(40, timeframe=hours))
    with pytest.raises(DataError) as err:
        CsvSource().sync(config(other), KEY, store)
    assert f"holds {found} candles (39 of its 39 steps between rows are {found})" in str(err.value)
    assert "the series' timeframe is 1h; run with --timeframe" in str(err.value)
    pd.testing.assert_frame_equal(store.load(KEY), before)


def test_null_cells_are_rejected_per_row_like_nan(tmp_path, store):
    path = write(tmp_path / "c.csv", make_candles(50))
    lines = path.read_text().splitlines()
    fields = lines[11].split(",")
    fields[4] = "null"  # close of row 10
    lines[11] = ",".join(fields)
    path.write_text("\n".join(lines) + "\n")
    report = CsvSource().sync(config(path), KEY, store)
    assert report.rejected.counts == {"nan": 1}
    assert report.new_candles == 49 == store.count(KEY)


def test_the_corrupt_first_bar_is_rejected_as_implausible(tmp_path, store):
    candles = make_candles(100)
    close = candles["close"].iloc[0]
    candles.iloc[0, :4] = [close * 3.76, close * 3.76, close * 0.99, close]
    path = write(tmp_path / "c.csv", candles)
    report = CsvSource().sync(config(path), KEY, store)
    assert report.rejected.counts == {"implausible_range": 1}
    assert report.rejected.examples["implausible_range"][0]["timestamp"] == candles.index[0]
    assert store.load(KEY).index[0] == candles.index[1]


def test_a_series_stored_under_the_earlier_label_is_pointed_out_once(tmp_path, store):
    path = write(tmp_path / "c.csv", make_candles(30))
    earlier = SeriesKey("binance", "BTC/USDT", "1h")
    CsvSource().sync(config(path, exchange="binance"), earlier, store)  # as before: binance

    report = CsvSource().sync(config(path), KEY, store)

    assert report.new_candles == 30 and store.count(earlier) == 30  # nothing lost or moved
    assert report.notes == [
        "csv:BTC/USDT:1h is new in this database, but binance:BTC/USDT:1h holds 30 candle(s) of "
        "the same symbol and timeframe (CSV candles were labelled with source.exchange, "
        "'binance' by default, before CSV series got the label 'csv'); to go on with that "
        'series set source.exchange = "binance" (--exchange binance); to remove it: '
        "candlecast candles delete --exchange binance --symbol BTC/USDT --timeframe 1h --all"
    ]
    assert CsvSource().sync(config(path), KEY, store).notes == []  # said once
