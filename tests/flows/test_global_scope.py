"""model.scope = "both" through the flow: per-series and global networks compete, the scope
that wins across the universe is kept, and the run says why."""

from __future__ import annotations

import pandas as pd
import pytest

from candlecast.flows.forecast import forecast_flow
from tests.fixtures.models import tiny_config
from tests.fixtures.series import make_candles

pytestmark = pytest.mark.slow


def test_both_scopes_compete_in_one_run(prefect_harness, tmp_path):
    for i, symbol in enumerate(("AAA-USDT", "BBB-USDT")):
        frame = make_candles(600, seed=10 + i).drop(columns="synthetic")
        frame.index = frame.index.tz_convert(None)
        frame.to_csv(tmp_path / f"{symbol}.csv", index_label="timestamp")
    config = tiny_config(
        source={
            "name": "csv",
            "path": str(tmp_path / "{symbol}.csv"),
            "symbols": ["AAA/USDT", "BBB/USDT"],
            "history_days": 60,
        },
        model={"scope": "both", "cells": [{"name": "gru", "units": 4}]},
        anomalies={"enabled": False},
        storage={"data_home": str(tmp_path / "home")},
    )
    summary = forecast_flow(config=config)
    assert summary["status"] == "ok", summary
    latest = pd.read_csv(
        tmp_path / "home" / "outputs" / "latest" / "csv_AAA-USDT_1h" / "forecasts.csv"
    )
    assert {"gru", "gru@global"} <= set(latest["model"])
    from candlecast.flows.runtime import open_store

    run = open_store(config.storage.resolved_database_url).runs.get_run(summary["run_id"])
    scopes = {s["quality"].get("scope") for s in run["summary"]["series"]}
    assert len(scopes) == 1 and "across the universe" in scopes.pop()
    models = open_store(config.storage.resolved_database_url).registry.all()
    assert sum(r.series.startswith("global:") for r in models) == 1  # one training, two series
