"""BacktestStore on SQLite and PostgreSQL: a model's stored backtest forecasts read back as
written (UTC origin times, the forecasts bit for bit), older origins dropped on request."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from candlecast.core.storage.backtest_store import BacktestStore, backtest_forecasts


@pytest.fixture
def store(db_url):
    engine = sa.create_engine(db_url)
    backtest_forecasts.create(engine, checkfirst=True)
    yield BacktestStore(engine)
    engine.dispose()


def _forecasts(times: pd.DatetimeIndex, seed: int) -> dict[pd.Timestamp, tuple[str, np.ndarray]]:
    rng = np.random.default_rng(seed)
    return {t: (f"digest{i}", rng.normal(size=4)) for i, t in enumerate(times)}


def test_forecasts_read_back_as_written_under_utc_origin_times(store):
    times = pd.date_range("2024-03-31 00:00", periods=300, freq="h", tz="UTC")
    written = _forecasts(times, 1)
    assert store.write("m1", "binance:BTC/USDT:1h", written) == 300
    store.write("m1", "binance:ETH/USDT:1h", _forecasts(times, 2))  # another series
    store.write("m2", "binance:BTC/USDT:1h", _forecasts(times[:5], 3))  # another version

    read = store.read("m1", "binance:BTC/USDT:1h")
    assert list(read) == list(times)  # in origin order, tz-aware UTC
    assert all(t.tzinfo is not None and t.utcoffset() == pd.Timedelta(0) for t in read)
    for time, (digest, values) in written.items():
        assert read[time][0] == digest
        np.testing.assert_array_equal(read[time][1], values)  # bit for bit
    assert len(store.read("m2", "binance:BTC/USDT:1h")) == 5
    assert store.read("m3", "binance:BTC/USDT:1h") == {}


def test_keep_from_drops_older_origins_and_forget_drops_the_version(store):
    times = pd.date_range("2024-01-01", periods=10, freq="h", tz="UTC")
    store.write("m1", "s", _forecasts(times, 1))
    later = times + pd.Timedelta(hours=10)  # the span moved forward by 10 candles
    store.write("m1", "s", _forecasts(later[5:], 2), keep_from=later[0])
    assert list(store.read("m1", "s")) == list(later[5:])
    store.forget("m1")
    assert store.read("m1", "s") == {}
