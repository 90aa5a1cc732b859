"""bench/anomaly's counting: what it reports about planted anomalies (not the detectors)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pandas as pd

from candlecast.core.anomalies.flag import AnomalyEvent

BENCH = Path(__file__).resolve().parents[2] / "bench" / "anomaly.py"


def _bench():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("bench_anomaly", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def _event(kind: str, start: pd.Timestamp) -> AnomalyEvent:
    return AnomalyEvent(
        series="bench:BTC/USDT:1h",
        kind=kind,
        start=start,
        end=start,
        peak_score=0.3,
        severity="info",
        flag_count=1,
        open=False,
    )


def test_recall_is_reported_by_the_order_of_the_planted_anomalies_in_a_trial():
    bench = _bench()
    t = pd.Timestamp("2023-01-01", tz="UTC")
    hour = pd.Timedelta("1h")
    labels = [bench.Label("spike", t + i * 200 * hour, t + (i * 200 + 1) * hour) for i in range(3)]
    events = [_event("spike", labels[0].start), _event("bad_tick", labels[2].end)]
    counts = bench.score(events, labels, "spike", [])
    row = bench.summarise("spike", 8.0, counts + bench.score(events[:1], labels, "spike", []))
    assert row["recall"] == 3 / 6
    assert row["recall_by_order"] == [1.0, 0.0, 0.5]


def test_the_flows_way_measures_the_sizes_the_target_names():
    pairs = _bench().online_sizes()
    assert ("spike", 8.0) in pairs
    assert ("variance_burst", 5.0) in pairs  # the target's size, beside the middle one (x3)
    assert ("variance_burst", 3.0) in pairs
    assert len(pairs) == len(set(pairs)) == 5
