"""Registry and retraining policy: reuse without fitting, `every`, `on_drift`, bad files."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest

from candlecast.core.market.candles import SeriesKey
from candlecast.core.models.network import NetworkForecaster
from candlecast.core.pipeline.candidates import network_candidate
from candlecast.core.pipeline.plan import SeriesPlan
from candlecast.core.pipeline.prepare import prepare_series
from candlecast.core.storage.store import Store
from tests.fixtures.models import tiny_config
from tests.fixtures.series import make_candles

pytestmark = pytest.mark.slow
KEY = SeriesKey("binance", "BTC/USDT", "1h")
NOW = pd.Timestamp("2024-02-01", tz="UTC")


@pytest.fixture
def fits(monkeypatch):
    """Counts NetworkForecaster.fit calls (a reused model must cause none)."""
    calls = []
    original = NetworkForecaster.fit

    def counting(self, frame, y, **kwargs):
        calls.append((self.name, kwargs.get("warm", False), len(frame)))
        return original(self, frame, y, **kwargs)

    monkeypatch.setattr(NetworkForecaster, "fit", counting)
    return calls


def _run(store, cells, config, frame, now=NOW, mode="auto"):
    plan = SeriesPlan.from_config(config)
    prepared = prepare_series(frame, KEY, plan)
    cell = config.model.cells[0]
    return network_candidate(
        prepared, "close", cell, cells, config, store.registry, plan.folds, now, mode
    )


def _setup(tmp_path, **training):
    config = tiny_config(
        model={"cells": [{"name": "gru", "units": 4}]},
        training=training,
        storage={"data_home": str(tmp_path)},
    )
    return config, Store(f"sqlite:///{tmp_path / 'db.sqlite'}").create()


def test_forecast_only_run_loads_the_registered_model_and_fits_nothing(
    tmp_path, builtin_cells, fits
):
    config, store = _setup(tmp_path)
    frame = make_candles(300)
    _, outcome = _run(store, builtin_cells, config, frame)
    assert outcome.trained and len(fits) == 1
    fits.clear()
    newer = make_candles(310)  # ten more candles arrived
    second, outcome = _run(
        store, builtin_cells, config, newer, NOW + pd.Timedelta(hours=10), "forecast"
    )
    assert fits == [] and not outcome.trained
    assert outcome.version == first_version(store)
    assert "reused" in outcome.note
    assert second.forecast.shape == (4,) and np.all(np.isfinite(second.forecast))


def first_version(store):
    return store.registry.all()[0].model_id


def test_policy_every_retrains_exactly_when_the_model_is_old(tmp_path, builtin_cells, fits):
    config, store = _setup(tmp_path, retrain="every", retrain_every_hours=24)
    _run(store, builtin_cells, config, make_candles(300))
    fits.clear()
    _, young = _run(store, builtin_cells, config, make_candles(305), NOW + pd.Timedelta(hours=5))
    assert fits == [] and not young.trained
    _, old = _run(store, builtin_cells, config, make_candles(330), NOW + pd.Timedelta(hours=30))
    assert len(fits) == 1 and old.trained and "old" in old.note
    assert len(store.registry.all()) == 2


def test_policy_on_drift_retrains_only_when_errors_drift(tmp_path, builtin_cells, fits):
    config, store = _setup(tmp_path, retrain="on_drift", drift_factor=1.5)
    _run(store, builtin_cells, config, make_candles(300))
    fits.clear()
    _, calm = _run(store, builtin_cells, config, make_candles(305), NOW + pd.Timedelta(hours=5))
    assert fits == [] and not calm.trained
    wild = make_candles(305, noise=0.05)  # ten times the noise: errors drift
    _, drifted = _run(store, builtin_cells, config, wild, NOW + pd.Timedelta(hours=6))
    assert drifted.trained and "drift_factor" in drifted.note and len(fits) == 1


def test_config_change_retrains(tmp_path, builtin_cells, fits):
    config, store = _setup(tmp_path, retrain="every")
    _run(store, builtin_cells, config, make_candles(300))
    changed = tiny_config(
        model={"cells": [{"name": "gru", "units": 6}]},
        training={"retrain": "every"},
        storage={"data_home": str(tmp_path)},
    )
    _, outcome = _run(store, builtin_cells, changed, make_candles(300), NOW + pd.Timedelta(hours=1))
    assert outcome.trained and "configuration changed" in outcome.note


def test_warm_start_continues_the_previous_model(tmp_path, builtin_cells, fits):
    config, store = _setup(tmp_path, retrain="always", warm_start_epochs=1)
    _run(store, builtin_cells, config, make_candles(300))
    _, outcome = _run(store, builtin_cells, config, make_candles(320), NOW + pd.Timedelta(hours=20))
    assert outcome.trained and "warm start" in outcome.note
    assert fits[-1][1] is True  # fit(..., warm=True)


def test_tampered_model_file_is_refused_logged_and_retrained(tmp_path, builtin_cells, fits, caplog):
    config, store = _setup(tmp_path, retrain="every")
    _run(store, builtin_cells, config, make_candles(300))
    record = store.registry.all()[0]
    with open(record.path, "r+b") as handle:  # flip bytes in the middle of the archive
        handle.seek(200)
        handle.write(b"\x00" * 64)
    with caplog.at_level(logging.WARNING, logger="candlecast.modelling"):
        _, outcome = _run(
            store, builtin_cells, config, make_candles(305), NOW + pd.Timedelta(hours=1)
        )
    assert outcome.trained and "unusable" in outcome.note
    assert any("changed since it was registered" in m for m in caplog.messages)
    statuses = {r.model_id: r.status for r in store.registry.all()}
    assert statuses[record.model_id] == "rejected"


def test_missing_model_file_is_retrained(tmp_path, builtin_cells, fits):
    config, store = _setup(tmp_path, retrain="every")
    _run(store, builtin_cells, config, make_candles(300))
    record = store.registry.all()[0]
    import os

    os.remove(record.path)
    _, outcome = _run(store, builtin_cells, config, make_candles(305), NOW + pd.Timedelta(hours=1))
    assert outcome.trained and "missing" in outcome.note


def test_registry_record_describes_the_training(tmp_path, builtin_cells, fits):
    config, store = _setup(tmp_path)
    frame = make_candles(300)
    _run(store, builtin_cells, config, frame)
    record = store.registry.all()[0]
    assert record.series == str(KEY) and record.cell == "gru" and record.head == "seq2vec"
    assert record.seed == config.training.seed
    assert record.data_start == frame.index[0] and record.data_end < frame.index[-1]
    assert "keras" in record.versions and record.metrics["mae"] > 0
    assert len(record.data_hash) == 16 and len(record.file_sha256) == 64


def test_expects_reuse_foresees_what_the_network_then_does(tmp_path, builtin_cells, fits):
    """The flow's scheduling hint (one task for a series' reused networks) agrees with the
    decision its network then takes on the loaded candles: nothing registered, a config change,
    mode train and an old model under 'every' train; a young model and mode forecast reuse."""
    from candlecast.core.pipeline.retraining import expects_reuse

    config, store = _setup(tmp_path, retrain="every", retrain_every_hours=24)
    cell = config.model.cells[0]

    def foreseen(config, now, mode="auto"):
        return expects_reuse(config, store.registry, KEY, cell, "close", now, mode)

    assert not foreseen(config, NOW)  # nothing registered yet
    _, first = _run(store, builtin_cells, config, make_candles(300))
    assert first.trained
    later = NOW + pd.Timedelta(hours=5)
    assert foreseen(config, later)
    _, young = _run(store, builtin_cells, config, make_candles(305), later)
    assert not young.trained
    assert not foreseen(config, later, "train")
    assert foreseen(config, NOW + pd.Timedelta(hours=30), "forecast")
    assert not foreseen(config, NOW + pd.Timedelta(hours=30))  # older than 24 h
    _, old = _run(store, builtin_cells, config, make_candles(330), NOW + pd.Timedelta(hours=30))
    assert old.trained
    changed = tiny_config(
        model={"cells": [{"name": "gru", "units": 6}]},
        training={"retrain": "every"},
        storage={"data_home": str(tmp_path)},
    )
    assert not expects_reuse(
        changed, store.registry, KEY, changed.model.cells[0], "close", later, "forecast"
    )
    assert not expects_reuse(config, store.registry, KEY, cell, "volume", later, "forecast")
