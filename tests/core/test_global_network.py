"""Global models: one network for several series, each with its own scalers and id."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from candlecast.core.market.candles import SeriesKey
from candlecast.core.models.global_network import GlobalNetwork
from candlecast.core.models.targets import target_series
from candlecast.core.pipeline.candidates import global_candidates
from candlecast.core.pipeline.evaluate import choose_scope, evaluate
from candlecast.core.pipeline.plan import SeriesPlan
from candlecast.core.pipeline.prepare import prepare_series
from candlecast.core.storage.store import Store
from tests.fixtures.models import tiny_config
from tests.fixtures.series import make_candles

pytestmark = pytest.mark.slow


def _universe():
    """Two series at very different price levels (own scalers make that harmless)."""
    a = make_candles(260, seed=1)
    b = make_candles(260, seed=2)
    b[["open", "high", "low", "close"]] *= 300.0
    return {"x:A/USDT:1h": a, "x:B/USDT:1h": b}


def test_one_network_serves_every_member_and_round_trips(builtin_cells, tmp_path):
    config = tiny_config(model={"scope": "global"})
    cell = next(c for c in config.model.cells if c.name == "gru")
    frames = _universe()
    network = GlobalNetwork(
        builtin_cells["gru"], builtin_cells, cell, config.model, config.training, "1h", list(frames)
    )
    parts = {s: (f, target_series(f, "close")) for s, f in frames.items()}
    report = network.fit(parts)
    assert report.samples > 300  # samples of both series in one training
    a, b = (network.member(s) for s in frames)
    assert a.keras_model is b.keras_model
    assert b.input_scaler.mean[0] == pytest.approx(a.input_scaler.mean[0], abs=0.01)
    assert list(a.id_vector) == [1.0, 0.0] and list(b.id_vector) == [0.0, 1.0]
    fa = a.predict_at(frames["x:A/USDT:1h"], parts["x:A/USDT:1h"][1], [259])
    fb = b.predict_at(frames["x:B/USDT:1h"], parts["x:B/USDT:1h"][1], [259])
    assert 50 < fa[0, 0] < 200 and 15_000 < fb[0, 0] < 60_000  # each at its own level
    path = network.save(tmp_path / "g")
    again = GlobalNetwork.load(path, builtin_cells)
    np.testing.assert_allclose(
        again.member("x:B/USDT:1h").predict_at(
            frames["x:B/USDT:1h"], parts["x:B/USDT:1h"][1], [259]
        ),
        fb,
        rtol=1e-6,
    )


def test_global_candidates_and_scope_choice(builtin_cells, tmp_path):
    config = tiny_config(
        model={"scope": "both", "cells": [{"name": "gru", "units": 4}]},
        storage={"data_home": str(tmp_path)},
    )
    store = Store(f"sqlite:///{tmp_path / 'db.sqlite'}").create()
    plan = SeriesPlan.from_config(config)
    prepared = {
        sid: prepare_series(frame, SeriesKey.parse(sid), plan) for sid, frame in _universe().items()
    }
    spec = plan.folds
    now = pd.Timestamp("2024-02-01", tz="UTC")
    out = global_candidates(
        prepared, "close", config.model.cells[0], builtin_cells, config, store.registry, spec, now
    )
    assert set(out) == set(prepared)
    candidate, outcome = out["x:A/USDT:1h"]
    assert candidate.name == "gru@global" and outcome.trained and candidate.forecast.shape == (4,)
    records = store.registry.all()
    assert len(records) == 1 and records[0].series.startswith("global:")
    # a forecast-only run reuses it: no second registration
    again = global_candidates(
        prepared,
        "close",
        config.model.cells[0],
        builtin_cells,
        config,
        store.registry,
        spec,
        now + pd.Timedelta(hours=1),
        "forecast",
    )
    assert not again["x:A/USDT:1h"][1].trained and len(store.registry.all()) == 1

    from candlecast.core.pipeline.candidates import baseline_candidates

    boards = {}
    for sid, item in prepared.items():
        candidates = baseline_candidates(item, "close", config, spec) | {"gru@global": out[sid][0]}
        boards[sid] = evaluate(item, "close", candidates, config, plan).board
    excluded, reason = choose_scope(boards)
    assert excluded == frozenset() and "only one scope" in reason
    fake = {
        sid: board.rename(index={"naive": "gru"}).assign(
            family=lambda b: np.where(b.index == "gru", "network", b["family"])
        )
        for sid, board in boards.items()
    }
    excluded, reason = choose_scope(fake)
    assert excluded in ({"gru"}, {"gru@global"}) and "win across the universe" in reason
