"""SeriesPlan: every length a run derives from the configuration, in one place; the one loader
and the one decomposition built on it."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from candlecast.core.config import Config, build_config
from candlecast.core.errors import ConfigError, DataError
from candlecast.core.evaluation.folds import walk_forward
from candlecast.core.market.candles import SeriesKey
from candlecast.core.pipeline.decompose import decompose_series
from candlecast.core.pipeline.plan import TRAIN_SLACK, SeriesPlan
from candlecast.core.pipeline.prepare import load_candles, load_series, prepare_series
from candlecast.core.storage.store import Store
from tests.fixtures.series import make_candles

KEY = SeriesKey("binance", "BTC/USDT", "1h")


def plan_of(**sections) -> SeriesPlan:
    return SeriesPlan.from_config(build_config(sections))


def test_the_default_plan_derives_every_length_from_the_configuration():
    plan = SeriesPlan.from_config(Config())
    assert (plan.window, plan.horizon) == (48, 24)
    folds = plan.folds
    # four weeks of origins three hours apart
    assert (folds.folds, folds.origins_per_fold, folds.step, folds.horizon) == (1, 224, 3, 24)
    assert folds.min_train == 48 + 24 + TRAIN_SLACK
    # the backtest's own requirement is the series' minimum: no second slack elsewhere
    assert plan.min_candles == folds.required_candles() == 122 + 24 + 223 * 3
    assert plan.targets == ("close", "volume")
    assert plan.intervals == "normalised" and plan.volatility_halflife == 48
    assert plan.history == pd.Timedelta(days=365)
    assert plan.anomaly_lookback == pd.Timedelta(days=90)
    assert (plan.max_gap, plan.on_long_gap) == (3, "split")


def test_a_series_of_exactly_min_candles_lays_out_every_fold():
    plan = plan_of(model={"window": 10, "horizon": 5}, backtest={"origins_per_fold": 4})
    folds = walk_forward(plan.min_candles, plan.folds)
    assert folds[0].n_train == plan.folds.min_train
    assert folds[-1].last_origin + plan.horizon == plan.min_candles - 1
    with pytest.raises(ConfigError, match="needs at least"):
        walk_forward(plan.min_candles - 1, plan.folds)


def test_the_origins_cover_span_days_and_never_fewer_than_48():
    assert plan_of(backtest={"span_days": 7}).folds.origins_per_fold == 7 * 24 // 3
    daily = plan_of(source={"timeframe": "1d"})
    assert daily.folds.origins_per_fold == 48  # 28 days of daily origins are too few
    assert daily.volatility_halflife == 2
    two_folds = plan_of(backtest={"folds": 2})
    assert two_folds.folds.n_origins == 224
    assert plan_of(backtest={"origins_per_fold": 10}).folds.origins_per_fold == 10


def test_step_defaults_to_the_horizon_and_sliding_windows_are_checked_against_the_slack():
    assert plan_of(backtest={"step": None}).folds.step == 24
    with pytest.raises(ConfigError, match=r"backtest.sliding_window = 100 .* at least 122"):
        plan_of(backtest={"scheme": "sliding", "sliding_window": 100})
    sliding = plan_of(backtest={"scheme": "sliding", "sliding_window": 200})
    assert sliding.folds.window == 200


def test_history_start_and_anomaly_window_are_measured_from_the_newest_candle():
    plan = plan_of(source={"history_days": 2}, anomalies={"lookback_days": 1})
    candles = make_candles(100)
    newest = candles.index[-1]
    assert plan.history_start(newest) == newest - pd.Timedelta(days=2)
    window = plan.anomaly_window(candles)
    assert len(window) == 24 and window.index[-1] == newest
    assert plan.anomaly_window(candles.iloc[:0]).empty


def test_the_loader_takes_the_history_window_and_honours_on_long_gap(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 'c.db'}").create()
    candles = make_candles(24 * 10)
    holey = candles.drop(candles.index[100:110])  # a 10-candle gap, longer than max_gap
    store.candles.upsert(KEY, holey)
    split = plan_of(source={"history_days": 5})
    frame, gaps = load_candles(store.candles, KEY, split)
    assert frame.index[-1] == candles.index[-1]
    assert frame.index[0] == candles.index[-1] - pd.Timedelta(days=5)
    assert len(frame) == 24 * 5 + 1 and not gaps.long_gaps  # the gap is older than the window
    everything = plan_of(source={"history_days": 30, "on_long_gap": "split"})
    frame, gaps = load_candles(store.candles, KEY, everything)
    assert frame.index[0] == candles.index[110] and len(gaps.long_gaps) == 1
    failing = plan_of(source={"history_days": 30, "on_long_gap": "fail"})
    with pytest.raises(DataError):
        load_candles(store.candles, KEY, failing)
    past = load_candles(store.candles, KEY, split, newest=candles.index[-25])[0]
    assert past.index[-1] == candles.index[-25]


def test_a_short_series_is_refused_with_the_count_it_needs(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 'c.db'}").create()
    plan = SeriesPlan.from_config(Config())
    with pytest.raises(DataError, match="no candles stored"):
        load_series(store.candles, KEY, plan)
    store.candles.upsert(KEY, make_candles(plan.min_candles - 1))
    with pytest.raises(DataError, match=f"need at least {plan.min_candles}"):
        load_series(store.candles, KEY, plan)
    store.candles.upsert(KEY, make_candles(plan.min_candles))
    prepared = load_series(store.candles, KEY, plan)
    assert len(prepared.frame) == plan.min_candles
    volume = prepared.values("volume")
    np.testing.assert_array_equal(volume.to_numpy(), prepared.frame["volume"].to_numpy())
    spread = prepared.values("range")
    np.testing.assert_allclose(spread, prepared.frame["high"] - prepared.frame["low"])


def test_the_decomposition_covers_the_anomaly_window_only():
    plan = plan_of(
        model={"window": 10, "horizon": 5},
        backtest={"origins_per_fold": 40},
        anomalies={"lookback_days": 10},
    )
    candles = make_candles(600)
    prepared = prepare_series(candles, KEY, plan)
    parts = decompose_series(prepared, plan).components
    assert len(parts) == 10 * 24
    assert parts.index[-1] == prepared.origin
    assert np.allclose(
        parts[["trend", "cycle", "seasonal", "irregular"]].sum(axis=1),
        np.log(candles["close"].iloc[-240:]),
    )
