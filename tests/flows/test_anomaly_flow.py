"""Anomalies through the flow: a planted one-candle spike (a bad tick, for the default streaming
detector) is flagged and announced as a Prefect event once; a third-party detector registered
only by entry point runs in the flow."""

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


def _csv(tmp_path, spikes: dict[int, float] | None = None, *, rows: int = 600) -> str:
    """The first `rows` of 600 hourly candles, the close (and high or low) at each position of
    `spikes` multiplied by its factor."""
    frame = make_candles(600, seed=5).drop(columns="synthetic")
    for position, factor in (spikes or {}).items():
        frame.iloc[position, frame.columns.get_loc("close")] *= factor
        column = "high" if factor > 1 else "low"
        frame.iloc[position, frame.columns.get_loc(column)] *= factor
    frame = frame.iloc[:rows]
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


def test_new_spikes_are_announced_once_each_in_its_own_words(
    prefect_harness, tmp_path, monkeypatch
):
    """A first run records the spike in its history without announcing it; the next run
    announces the two spikes in its new candles, each with its own flag's reason; a run with
    nothing new announces nothing."""
    sent = []
    monkeypatch.setattr(flow_events, "emit_event", lambda **kwargs: sent.append(kwargs))
    # each spike leaves the range seen before it: in 560 candles of history a spike no larger
    # than an earlier one is not rare for this series (its empirical tail cannot say 1 in 500
    # yet), and moves beyond 25 % are implausible bars the source drops
    planted = {300: 1.15, 570: 1.25, 585: 0.8}
    config = _config(tmp_path, _csv(tmp_path, planted, rows=560))
    assert forecast_flow(config=config)["status"] == "ok"
    from candlecast.flows.runtime import open_store

    store = open_store(config.storage.resolved_database_url)
    series = "csv:BTC/USDT:1h"
    history = [f for f in store.anomalies.flags(series) if f.kind == "bad_tick"]
    assert any(str(f.timestamp).startswith("2024-01-13 12") for f in history)  # candle 300
    assert [e for e in sent if e["payload"]["kind"] == "bad_tick"] == []  # recorded only

    _csv(tmp_path, planted)  # 40 new candles, two of them spikes
    second = forecast_flow(config=config)
    assert second["status"] == "ok"
    # the first run's published bands have come due: the run records how they did
    (info,) = store.runs.get_run(second["run_id"])["summary"]["series"]
    realised = {row["level"]: row for row in info["targets"]["close"]["realised"]}
    assert realised[0.8]["n"] == 4 and 0.0 <= realised[0.8]["coverage"] <= 1.0
    flags = store.anomalies.flags(series)
    announced = [e for e in sent if e["payload"]["kind"] == "bad_tick"]
    assert [e["payload"]["start"] for e in announced] == [
        "2024-01-24 18:00:00+00:00",  # candle 570
        "2024-01-25 09:00:00+00:00",  # candle 585
    ]
    assert {e["event"] for e in announced} == {"candlecast.anomaly.detected"}
    reasons = []
    for event in announced:
        payload = event["payload"]
        assert payload["series"] == series and payload["severity"] in ("warning", "critical")
        own = [
            f for f in flags if f.kind == "bad_tick" and str(f.timestamp) == payload["peak_time"]
        ]
        assert len(own) == 1 and payload["reason"] == own[0].reason
        assert payload["peak_score"] == own[0].score
        assert event["resource"]["prefect.resource.id"] == "candlecast.series.csv_BTC-USDT_1h"
        reasons.append(payload["reason"])
    assert payload["kind_title"] == "bad tick"
    assert reasons[0].startswith("surprise (bad_tick, calibrated")
    assert "(+25." in reasons[0] and "at 2024-01-24 18:00" in reasons[0]  # the move at 570
    assert "(-19." in reasons[1] or "(-20." in reasons[1]
    assert "at 2024-01-25 09:00" in reasons[1]

    sent.clear()
    forecast_flow(config=config, mode="forecast")  # the same candles: nothing new to announce
    assert [e for e in sent if e["payload"]["kind"] == "bad_tick"] == []
    assert len(store.anomalies.flags(series)) == len(flags)


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
