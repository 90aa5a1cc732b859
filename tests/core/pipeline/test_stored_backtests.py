"""Forecast-only runs read what they stored: a reused network's backtest forecasts come from
the store (the network is asked only for the origins that are new), with the same leaderboard
numbers and intervals as a run that recomputes them; registered models load once per process
(the model cache) and a changed file is never served from it."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from candlecast.core.market.candles import SeriesKey
from candlecast.core.models.cache import MODELS, ModelCache
from candlecast.core.models.network import NetworkForecaster
from candlecast.core.pipeline.candidates import baseline_candidates, network_candidate
from candlecast.core.pipeline.evaluate import target_outcome
from candlecast.core.pipeline.plan import SeriesPlan
from candlecast.core.pipeline.prepare import prepare_series
from candlecast.core.pipeline.stored_backtests import input_digests
from candlecast.core.storage.store import Store
from tests.fixtures.models import tiny_config
from tests.fixtures.series import make_candles

pytestmark = pytest.mark.slow
KEY = SeriesKey("binance", "BTC/USDT", "1h")
NOW = pd.Timestamp("2024-02-01", tz="UTC")


@pytest.mark.parametrize("part", ["close", "volume", "target", "synthetic", "open time"])
def test_an_origins_digest_changes_exactly_when_a_candle_of_its_window_does(part):
    frame = make_candles(300, random_walk=True, seed=2)
    frame["synthetic"] = False
    y = frame["close"].copy()
    origins, reach, changed = np.arange(100, 300), 30, 200
    before = input_digests(frame, y, origins, reach)
    if part in ("close", "volume"):
        frame.iloc[changed, frame.columns.get_loc(part)] *= 1.0000001
    elif part == "target":
        y.iloc[changed] += 1e-9
    elif part == "synthetic":
        frame.iloc[changed, frame.columns.get_loc("synthetic")] = True
    else:
        index = frame.index.to_list()
        index[changed] += pd.Timedelta(seconds=1)
        frame.index, y.index = pd.DatetimeIndex(index), pd.DatetimeIndex(index)
    after = input_digests(frame, y, origins, reach)
    moved = [int(o) for o, a, b in zip(origins, before, after, strict=True) if a != b]
    assert moved == list(range(changed, changed + reach))
    assert len(set(before)) == len(origins)


@pytest.fixture
def asked(monkeypatch):
    """The origins every NetworkForecaster.predict_at call was asked for."""
    calls: list[int] = []
    original = NetworkForecaster.predict_at

    def counting(self, frame, y, origins):
        calls.append(len(origins))
        return original(self, frame, y, origins)

    monkeypatch.setattr(NetworkForecaster, "predict_at", counting)
    return calls


def _config(tmp_path, **backtest):
    return tiny_config(
        model={"cells": [{"name": "gru", "units": 4}]},
        backtest=backtest,
        storage={"data_home": str(tmp_path)},
    )


def _setup(tmp_path, **backtest):
    return _config(tmp_path, **backtest), Store(f"sqlite:///{tmp_path / 'db.sqlite'}").create()


def _run(store, cells, config, frame, now=NOW, mode="auto"):
    plan = SeriesPlan.from_config(config)
    prepared = prepare_series(frame, KEY, plan)
    cell = config.model.cells[0]
    candidate, outcome = network_candidate(
        prepared, "close", cell, cells, config, store.registry, plan.folds, now, mode
    )
    candidates = {cell.id: candidate} | baseline_candidates(prepared, "close", config, plan.folds)
    target = target_outcome(prepared, "close", candidates, {cell.id: outcome}, config, plan)
    return candidate, outcome, target


def test_forecast_only_run_reads_the_stored_backtest_and_matches_a_recomputing_run(
    tmp_path, builtin_cells, asked
):
    config, store = _setup(tmp_path)
    newer = make_candles(302)
    _run(store, builtin_cells, config, newer.iloc[:300])  # trains, stores every origin
    assert len(asked) == 1  # the backtest and the newest forecast: one batched call
    asked.clear()
    # two new candles
    later = NOW + pd.Timedelta(hours=2)
    candidate, outcome, target = _run(store, builtin_cells, config, newer, later, "forecast")
    assert not outcome.trained
    # only the two origins that are new since the training run reach the network
    assert asked == [2]

    recompute = _config(tmp_path, store_forecasts=False)
    MODELS.clear()
    asked.clear()
    again, _, recomputed = _run(store, builtin_cells, recompute, newer, later, "forecast")
    assert sum(asked) > 2  # every origin forecast again
    np.testing.assert_allclose(candidate.result.forecasts, again.result.forecasts, rtol=1e-6)
    np.testing.assert_allclose(candidate.forecast, again.forecast, rtol=1e-6)
    for name, model in target.models.items():
        pd.testing.assert_frame_equal(
            model.forecast, recomputed.models[name].forecast, check_exact=False, rtol=1e-6
        )

    def scores(board):  # the leaderboard's numbers, not its timings
        return board.drop(columns=[c for c in board.columns if "seconds" in c])

    pd.testing.assert_frame_equal(scores(target.leaderboard), scores(recomputed.leaderboard))
    assert target.champion == recomputed.champion


def test_a_corrected_candle_recomputes_the_forecasts_that_saw_it(tmp_path, builtin_cells, asked):
    config, store = _setup(tmp_path)
    frame = make_candles(300)
    _run(store, builtin_cells, config, frame)
    asked.clear()
    corrected = frame.copy()
    corrected.iloc[-30, corrected.columns.get_loc("close")] *= 1.01
    _run(store, builtin_cells, config, corrected, NOW, "forecast")
    window = config.model.window
    # the origins whose inputs include the corrected candle: from it to the newest one
    assert 0 < sum(asked) <= 30 and sum(asked) >= min(30, window)


def test_the_model_cache_hits_on_the_second_run_and_misses_on_a_new_checksum(
    tmp_path, builtin_cells
):
    config, store = _setup(tmp_path)
    frame = make_candles(302)
    _run(store, builtin_cells, config, frame.iloc[:300])
    MODELS.clear()
    _run(store, builtin_cells, config, frame.iloc[:301], NOW, "forecast")
    assert (MODELS.stats.hits, MODELS.stats.misses) == (0, 1)
    _run(store, builtin_cells, config, frame, NOW, "forecast")
    assert (MODELS.stats.hits, MODELS.stats.misses) == (1, 1)


def test_model_cache_keys_by_path_and_checksum_and_is_bounded():
    cache = ModelCache(capacity=2)
    loads = []

    def loader(name):
        def load():
            loads.append(name)
            return object()

        return load

    first = cache.get("a.keras", "sum1", loader("a1"))
    assert cache.get("a.keras", "sum1", loader("a1")) is first
    changed = cache.get("a.keras", "sum2", loader("a2"))  # the file was rewritten
    assert changed is not first and loads == ["a1", "a2"]
    assert cache.get("a.keras", "sum2", loader("a2")) is changed
    assert len(cache) == 1  # the old checksum's entry is gone
    cache.get("b.keras", "s", loader("b"))
    cache.get("c.keras", "s", loader("c"))
    assert len(cache) == 2 and cache.stats.evictions == 2
    assert ModelCache(capacity=0).get("a", "s", loader("x")) is not None


def test_the_default_model_cache_grows_to_hold_a_run_and_a_set_capacity_stays(monkeypatch):
    """An LRU cache smaller than the run's cycle of networks evicts each one just before its
    next use: a run reserves room for all of its networks unless the capacity was set."""
    from candlecast.core.models import cache as cache_module
    from candlecast.flows.stages import networks_of

    monkeypatch.delenv(cache_module.ENV, raising=False)
    grown = ModelCache()
    grown.reserve(800)
    assert grown.capacity == 800
    grown.reserve(10)
    assert grown.capacity == 800  # never shrinks
    for i in range(800):
        grown.get(f"{i}.keras", "s", object)
    for i in range(800):  # the next run: every model a hit
        grown.get(f"{i}.keras", "s", object)
    assert grown.stats.hits == 800 and grown.stats.evictions == 0
    fixed = ModelCache(capacity=3)
    fixed.reserve(800)
    assert fixed.capacity == 3
    monkeypatch.setenv(cache_module.ENV, "7")
    pinned = ModelCache()
    pinned.reserve(800)
    assert pinned.capacity == 7

    config = tiny_config()  # 1 cell
    cells = len(config.model.cells)
    assert networks_of(config, series=100, targets=2) == 100 * cells * 2
    both = config.model_copy(update={"model": config.model.model_copy(update={"scope": "both"})})
    assert networks_of(both, series=100, targets=2) == 101 * cells * 2
