"""Anomalies through the flow: a planted spike is flagged and announced as a Prefect event
once; a third-party detector registered only by entry point runs in the flow."""

from __future__ import annotations

import sys
import types
from importlib import metadata

import pytest

from candlecast.core.anomalies.flag import Flag
from candlecast.flows import events as flow_events
from candlecast.flows.forecast import forecast_flow
from candlecast.plugins import hookimpl
from candlecast.plugins.manager import reset_host
from tests.fixtures.models import tiny_config
from tests.fixtures.series import make_candles

pytestmark = pytest.mark.slow


def _csv(tmp_path, spike_at: int | None = None) -> str:
    frame = make_candles(600, seed=5).drop(columns="synthetic")
    if spike_at is not None:
        frame.iloc[spike_at, frame.columns.get_loc("close")] *= 1.25
        frame.iloc[spike_at, frame.columns.get_loc("high")] *= 1.25
    frame.index = frame.index.tz_convert(None)
    path = tmp_path / "candles.csv"
    frame.to_csv(path, index_label="timestamp")
    return str(path)


def _config(tmp_path, csv, **extra):
    sections = {
        "source": {"name": "csv", "path": csv, "history_days": 60},
        "model": {"cells": [{"name": "simple", "units": 4}]},
        "storage": {"data_home": str(tmp_path / "home")},
    }
    for key, value in extra.items():
        sections.setdefault(key, {}).update(value)
    return tiny_config(**sections)


def test_a_planted_spike_is_flagged_and_announced_once(prefect_harness, tmp_path, monkeypatch):
    sent = []
    monkeypatch.setattr(flow_events, "emit_event", lambda **kwargs: sent.append(kwargs))
    config = _config(tmp_path, _csv(tmp_path, spike_at=560))
    summary = forecast_flow(config=config)
    assert summary["status"] == "ok"
    from candlecast.flows.runtime import open_store

    store = open_store(config.storage.resolved_database_url)
    flags = store.anomalies.flags("csv:BTC/USDT:1h")
    spikes = [f for f in flags if f.kind == "spike"]
    assert spikes and any(str(f.timestamp).startswith("2024-01-24 08") for f in spikes)
    announced = [e for e in sent if e["payload"]["kind"] == "spike"]
    assert announced and announced[0]["event"] == "candlecast.anomaly.detected"
    payload = announced[0]["payload"]
    assert payload["series"] == "csv:BTC/USDT:1h" and payload["severity"] in (
        "info",
        "warning",
        "critical",
    )
    assert announced[0]["resource"]["prefect.resource.id"] == "candlecast.series.csv_BTC-USDT_1h"
    sent.clear()
    forecast_flow(config=config, mode="forecast")  # same candles: nothing new to announce
    assert [e for e in sent if e["payload"]["kind"] == "spike"] == []
    assert len(store.anomalies.flags("csv:BTC/USDT:1h")) == len(flags)


def test_a_third_party_detector_from_an_entry_point_runs(prefect_harness, tmp_path, monkeypatch):
    module = types.ModuleType("newest_candle_detector")

    class NewestCandle:
        name = "newest"
        description = "flags the newest candle (test plugin)"
        kinds = ("newest",)
        settle = 0

        def detect(self, ctx):
            stamp = ctx.candles.index[-1]
            return [
                Flag(ctx.series, stamp, "newest", self.name, 9.0, 1.0, "info", "the newest candle")
            ]

    @hookimpl
    def register_detectors(register):
        register(NewestCandle())

    module.register_detectors = register_detectors
    sys.modules[module.__name__] = module
    point = metadata.EntryPoint("newest", module.__name__, "candlecast")
    original = metadata.entry_points
    monkeypatch.setattr(
        metadata,
        "entry_points",
        lambda **kw: (
            [*original(**kw), point] if kw.get("group") == "candlecast" else original(**kw)
        ),
    )
    reset_host()
    try:
        config = _config(tmp_path, _csv(tmp_path))
        assert forecast_flow(config=config)["status"] == "ok"
        from candlecast.flows.runtime import open_store

        flags = open_store(config.storage.resolved_database_url).anomalies.flags("csv:BTC/USDT:1h")
        assert [f.detector for f in flags if f.kind == "newest"] == ["newest"]
    finally:
        sys.modules.pop(module.__name__, None)
        monkeypatch.undo()
        reset_host()
