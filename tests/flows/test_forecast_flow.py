"""The forecast flow end to end on a CSV series, under prefect_test_harness."""

from __future__ import annotations

import pandas as pd
import pytest
import sqlalchemy as sa

from candlecast.core.storage.registry import models
from candlecast.core.storage.runs import forecasts
from candlecast.flows.forecast import forecast_flow
from tests.fixtures.models import tiny_config

pytestmark = pytest.mark.slow


def _config(tmp_path, candles_csv, **extra):
    sections = {
        "source": {"name": "csv", "path": candles_csv, "history_days": 60},
        "storage": {"data_home": str(tmp_path / "home")},
        "publish": {"formats": ["csv", "parquet", "json"]},
    }
    for key, value in extra.items():
        sections.setdefault(key, {}).update(value)
    return tiny_config(**sections)


def _count(engine, table, **where):
    query = sa.select(sa.func.count()).select_from(table)
    for column, value in where.items():
        query = query.where(table.c[column] == value)
    with engine.connect() as conn:
        return conn.execute(query).scalar()


def test_flow_forecasts_every_target_and_cell_and_reruns_without_duplicates(
    prefect_harness, tmp_path, candles, candles_csv
):
    config = _config(tmp_path, candles_csv, model={"targets": ["close", "volume"]})
    summary = forecast_flow(config=config)
    assert summary["status"] == "ok", summary
    series = "csv:BTC/USDT:1h"
    targets = summary["series"][series]["targets"]
    assert set(targets) == {"close", "volume"}
    assert all(t["champion"] is not None and t["error"] is None for t in targets.values())

    home = tmp_path / "home"
    latest = pd.read_csv(home / "outputs" / "latest" / "csv_BTC-USDT_1h" / "forecasts.csv")
    last_candle = candles.index[-1]
    for target in ("close", "volume"):
        mine = latest[latest["target"] == target]
        for model in ("simple", "lstm", "gru", "bidirectional", "naive", "combination"):
            rows = mine[mine["model"] == model]
            assert len(rows) == 4, (target, model)  # horizon rows each
            times = pd.to_datetime(rows["target_time"], utc=True)
            assert list(times) == list(pd.date_range(last_candle, periods=5, freq="h")[1:])
            assert rows[["lower_80", "upper_80", "lower_95", "upper_95"]].notna().all().all()
            assert (rows["lower_95"] <= rows["lower_80"]).all()
            assert (rows["upper_80"] <= rows["upper_95"]).all()
        assert mine["champion"].sum() == 4  # one champion's horizon per target
    volume = latest[(latest["target"] == "volume") & latest["champion"]]["value"]
    assert volume.between(0.2 * candles["volume"].min(), 5 * candles["volume"].max()).all()
    run_dir = next((home / "outputs" / "runs").iterdir())
    assert {p.name for p in run_dir.iterdir()} >= {
        "forecasts.csv",
        "forecasts.parquet",
        "forecasts.json",
        "flags.csv",
        "manifest.json",
    }
    report = (home / "reports" / f"{summary['run_id']}.html").read_text()
    for target in ("close", "volume"):
        assert f'id="chart-csv-btc-usdt-1h-{target}"' in report

    from candlecast.flows.runtime import open_store

    store = open_store(config.storage.resolved_database_url)
    first = _count(store.engine, forecasts)
    # per target: four cells, two baselines and the combination, horizon 4
    assert first == 2 * 4 * (4 + 2 + 1)
    assert _count(store.engine, forecasts, target="volume") == first / 2
    trained = _count(store.engine, models)
    assert trained == 2 * 4  # a network per (target, cell)

    # the same data again: same natural keys, no new rows; forecast-only reuses every model
    again = forecast_flow(config=config, mode="forecast")
    assert again["status"] == "ok"
    assert _count(store.engine, forecasts) == first
    assert _count(store.engine, models) == trained  # nothing was trained
    flags_before = store.anomalies.flags(series)
    forecast_flow(config=config, mode="forecast")
    assert len(store.anomalies.flags(series)) == len(flags_before)

    # a re-run at the same origin with fewer models leaves no rows of the others behind
    fewer = _config(
        tmp_path,
        candles_csv,
        model={"targets": ["close", "volume"], "cells": [{"name": "gru", "units": 4}]},
    )
    forecast_flow(config=fewer, mode="forecast")
    assert _count(store.engine, forecasts, model="lstm") == 0
    assert _count(store.engine, forecasts, model="combination") == 0  # one network: no mix
    assert _count(store.engine, forecasts) == 2 * 4 * (1 + 2)


def test_example_plugin_runs_in_the_flow(prefect_harness, tmp_path, candles_csv):
    """The conv_gru cell comes only from its package's entry point (examples/)."""
    from candlecast.plugins.manager import get_host

    if "conv_gru" not in get_host().get("cells"):
        pytest.skip("examples/candlecast-conv-gru is not installed (make test installs it)")
    config = _config(
        tmp_path,
        candles_csv,
        model={"cells": [{"name": "conv_gru", "units": 4, "params": {"filters": 4}}]},
        anomalies={"enabled": False},
    )
    summary = forecast_flow(config=config)
    assert summary["status"] == "ok"
    latest = pd.read_csv(
        tmp_path / "home" / "outputs" / "latest" / "csv_BTC-USDT_1h" / "forecasts.csv"
    )
    assert len(latest[latest["model"] == "conv_gru"]) == 4


def test_a_failing_series_does_not_fail_the_others(prefect_harness, tmp_path, candles):
    good = tmp_path / "GOOD-USDT.csv"
    out = candles.drop(columns="synthetic")
    out.index = out.index.tz_convert(None)
    out.to_csv(good, index_label="timestamp")
    (tmp_path / "BAD-USDT.csv").write_text("timestamp,open\n2024-01-01,1\n")
    config = _config(
        tmp_path,
        str(tmp_path / "{symbol}.csv"),
        source={"symbols": ["GOOD/USDT", "BAD/USDT"]},
        anomalies={"enabled": False},
    )
    summary = forecast_flow(config=config)
    assert summary["status"] == "partial"
    assert summary["series"]["csv:GOOD/USDT:1h"]["error"] is None
    assert summary["series"]["csv:GOOD/USDT:1h"]["targets"]["close"]["champion"]
    assert "high" in summary["series"]["csv:BAD/USDT:1h"]["error"]  # names missing columns


def test_reused_networks_of_a_series_run_as_one_task_and_publish_the_same(
    prefect_harness, tmp_path, candles_csv, monkeypatch
):
    """A training run has one task per network; a forecast-only run one task for all of a
    series' reused networks, publishing exactly what one task per network publishes; a network
    that fails in it is recorded with its error and the others go on."""
    from candlecast.core.errors import ModelError
    from candlecast.flows import stages, tasks

    routed: list[list[str]] = []  # per run: how each network was submitted
    submit = stages.submit_networks

    def recording(run, key, prepared):
        networks = submit(run, key, prepared)
        routed.append(
            ["shared" if isinstance(v, stages.Share) else "own" for v in networks.values()]
        )
        return networks

    monkeypatch.setattr(stages, "submit_networks", recording)
    config = _config(tmp_path, candles_csv, anomalies={"enabled": False})
    latest = tmp_path / "home" / "outputs" / "latest" / "csv_BTC-USDT_1h" / "forecasts.csv"
    trained = forecast_flow(config=config, mode="train", return_state=True)
    assert trained.result()["status"] == "ok"
    assert routed[-1] == ["own"] * 4

    grouped = forecast_flow(config=config, mode="forecast", return_state=True)
    assert grouped.result()["status"] == "ok"
    assert routed[-1] == ["shared"] * 4
    one_task = pd.read_csv(latest)

    with monkeypatch.context() as patch:
        patch.setattr(stages, "expects_reuse", lambda *args: False)
        apart = forecast_flow(config=config, mode="forecast", return_state=True)
    assert apart.result()["status"] == "ok"
    assert routed[-1] == ["own"] * 4
    same = [c for c in one_task.columns if c not in ("run_id", "issued_at")]  # the run's own
    pd.testing.assert_frame_equal(pd.read_csv(latest)[same], one_task[same])

    real = tasks.network_candidate

    def gru_fails(prepared, target, cell, *args):
        if cell.name == "gru":
            raise ModelError("the gru's file is unreadable (test)")
        return real(prepared, target, cell, *args)

    monkeypatch.setattr(tasks, "network_candidate", gru_fails)
    summary = forecast_flow(config=config, mode="forecast")
    close = summary["series"]["csv:BTC/USDT:1h"]["targets"]["close"]
    assert summary["status"] == "partial"
    assert close["model_failures"] == "gru: the gru's file is unreadable (test)"
    assert close["champion"] is not None and close["champion"] != "gru"
    published = pd.read_csv(latest)
    assert "gru" not in set(published["model"]) and {"simple", "lstm"} <= set(published["model"])
