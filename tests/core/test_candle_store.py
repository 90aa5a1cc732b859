"""CandleStore on SQLite and PostgreSQL: upserts on open time, last-write-wins, no duplicates."""

from __future__ import annotations

import itertools
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from candlecast.core.errors import DataError, StorageError
from candlecast.core.market.candles import SeriesKey, empty_frame
from candlecast.core.storage import candle_store as candle_store_module
from candlecast.core.storage.candle_store import CandleStore, candles
from tests.fixtures.series import make_candles

BTC = SeriesKey("binance", "BTC/USDT", "1h")
ETH = SeriesKey("binance", "ETH/USDT", "1h")


@pytest.fixture
def store(db_url):
    engine = sa.create_engine(db_url)
    store = CandleStore(engine)
    store.create()
    yield store
    engine.dispose()


def test_create_is_idempotent_and_keeps_data(store):
    store.upsert(BTC, make_candles(5))
    store.create()
    assert store.count(BTC) == 5
    columns = {c["name"]: c for c in sa.inspect(store.engine).get_columns("candles")}
    assert list(columns) == [
        "exchange",
        "symbol",
        "timeframe",
        "ts",
        "open",
        "high",
        "low",
        "close",
        "volume",
    ]
    assert isinstance(columns["ts"]["type"], sa.BigInteger)
    assert sa.inspect(store.engine).get_pk_constraint("candles")["constrained_columns"] == [
        "exchange",
        "symbol",
        "timeframe",
        "ts",
    ]


def test_upsert_then_load_gives_back_the_same_candles(store):
    frame = make_candles(300)
    assert store.upsert(BTC, frame) == 300
    loaded = store.load(BTC)
    pd.testing.assert_frame_equal(loaded, frame, check_freq=False, check_index_type=False)
    assert loaded.index.equals(frame.index)
    assert store.count(BTC) == 300
    assert store.last_timestamp(BTC) == frame.index[-1]


def test_an_empty_store_answers_none_zero_and_an_empty_frame(store):
    assert store.last_timestamp(BTC) is None
    assert store.count(BTC) == 0
    assert store.series() == []
    empty = store.load(BTC)
    assert empty.empty and list(empty.columns) == [
        "open",
        "high",
        "low",
        "close",
        "volume",
        "synthetic",
    ]
    assert str(empty.index.tz) == "UTC"
    assert store.upsert(BTC, empty_frame()) == 0


def test_load_range_is_start_inclusive_end_exclusive(store):
    frame = make_candles(48)
    store.upsert(BTC, frame)
    part = store.load(BTC, start=frame.index[10], end=frame.index[20])
    assert part.index.equals(frame.index[10:20])
    assert store.load(BTC, start=frame.index[40]).index.equals(frame.index[40:])
    assert store.load(BTC, end=frame.index[3]).index.equals(frame.index[:3])


def test_upsert_overwrites_on_open_time_and_keeps_series_apart(store):
    frame = make_candles(20)
    store.upsert(BTC, frame)
    store.upsert(ETH, frame.iloc[:5] * [2, 2, 2, 2, 2, 1])
    changed = frame.iloc[10:15].copy()
    changed["close"] = changed["close"] + 1.0
    changed["high"] = changed["high"] + 1.0
    assert store.upsert(BTC, changed) == 5
    loaded = store.load(BTC)
    assert store.count(BTC) == 20
    np.testing.assert_array_equal(loaded["close"].iloc[10:15], changed["close"])
    np.testing.assert_array_equal(loaded["close"].iloc[:10], frame["close"].iloc[:10])
    assert store.count(ETH) == 5
    assert store.load(ETH)["open"].iloc[0] == 2 * frame["open"].iloc[0]
    assert store.series() == [BTC, ETH]


def test_timeframes_are_separate_series(store):
    store.upsert(BTC, make_candles(3))
    daily = SeriesKey("binance", "BTC/USDT", "1d")
    store.upsert(daily, make_candles(2, timeframe="1D"))
    assert store.series() == [daily, BTC]  # sorted: "1d" < "1h"
    assert (store.count(BTC), store.count(daily)) == (3, 2)


def test_synthetic_and_repeated_candles_are_refused(store):
    frame = make_candles(6)
    frame.loc[frame.index[2], "synthetic"] = True
    with pytest.raises(DataError, match=r"1 synthetic \(gap-filled\) candle"):
        store.upsert(BTC, frame)
    repeated = make_candles(4).iloc[[0, 1, 1, 2]].assign(synthetic=False)
    with pytest.raises(DataError, match="repeat the open time 2024-01-01T01:00:00"):
        store.upsert(BTC, repeated)
    naive = make_candles(3)
    naive.index = naive.index.tz_convert(None)
    with pytest.raises(DataError, match="tz-aware UTC"):
        store.upsert(BTC, naive)
    assert store.count(BTC) == 0


def test_large_frames_go_in_chunks_in_one_transaction(store, monkeypatch):
    monkeypatch.setattr(candle_store_module, "CHUNK_ROWS", 7)
    frame = make_candles(50)
    assert store.upsert(BTC, frame) == 50
    assert store.count(BTC) == 50

    # a chunk that fails after earlier chunks went in: the whole upsert is rolled back
    real_rows = CandleStore._rows

    def failing_rows(self, key, frame):
        chunks = real_rows(self, key, frame)
        yield next(chunks)
        yield [{**row, "ts": None} for row in next(chunks)]

    monkeypatch.setattr(CandleStore, "_rows", failing_rows)
    later = make_candles(20, start="2024-03-01")
    with pytest.raises(StorageError, match=f"could not store 20 candles for {BTC}"):
        store.upsert(BTC, later)
    assert store.count(BTC) == 50
    assert store.last_timestamp(BTC) == frame.index[-1]


def test_only_sqlite_and_postgresql_are_supported():
    engine = SimpleNamespace(
        dialect=SimpleNamespace(name="mysql"), url=sa.make_url("mysql://u:secret@db.example/db")
    )
    with pytest.raises(StorageError) as err:
        CandleStore(engine)
    assert "supports the database dialects sqlite, postgresql, got 'mysql'" in str(err.value)
    assert "secret" not in str(err.value)


# -- property: any sequence of overlapping pages leaves exactly their union, last write wins --

_pages = st.lists(
    st.tuples(st.integers(0, 40), st.integers(0, 15)),  # (first hour, length) of each page
    min_size=1,
    max_size=8,
)
_keys = itertools.count()


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(pages=_pages)
def test_property_overlapping_pages_leave_the_union_last_write_wins(store, pages):
    key = SeriesKey("prop", f"P{next(_keys)}/USDT", "1h")  # a fresh series per example
    base = make_candles(60)
    expected: dict[pd.Timestamp, float] = {}
    for number, (first, length) in enumerate(pages):
        page = base.iloc[first : first + length].copy()
        page["volume"] = float(number)  # which page wrote a candle
        store.upsert(key, page)
        expected.update(dict.fromkeys(page.index, float(number)))

    loaded = store.load(key)
    assert loaded.index.is_unique and loaded.index.is_monotonic_increasing
    assert store.count(key) == len(expected) == len(loaded)
    assert list(loaded.index) == sorted(expected)
    assert loaded["volume"].tolist() == [expected[t] for t in loaded.index]
    np.testing.assert_array_equal(loaded["close"], base.loc[loaded.index, "close"])
    with store.engine.connect() as conn:
        rows = conn.execute(
            sa.select(sa.func.count()).select_from(candles).where(candles.c.symbol == key.symbol)
        ).scalar_one()
    assert rows == len(expected)
