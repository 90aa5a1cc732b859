"""The run's Prefect artifacts: the summary, the leaderboard and one Markdown per series, under
stable keys, with the report link."""

from __future__ import annotations

import json

import pytest
from prefect import flow
from prefect.artifacts import Artifact

from candlecast.core.market.candles import SeriesKey
from candlecast.core.report import series_artifact_key
from candlecast.flows.artifacts import create_artifacts
from tests.fixtures.results import KEY, make_outcome, make_results

pytestmark = pytest.mark.slow  # starts the Prefect test server


def test_every_series_gets_a_markdown_artifact_under_a_stable_key(prefect_harness, tmp_path):
    eth = SeriesKey("binance", "ETH/USDT", "1h")
    results = make_results(
        series=(make_outcome(targets=("close", "volume")), make_outcome(eth, seed=1))
    )
    report = tmp_path / "reports" / f"{results.run_id}.html"

    @flow
    def publish_artifacts() -> None:
        create_artifacts(results, str(report))

    publish_artifacts()
    summary = Artifact.get("candlecast-run-summary")
    assert summary is not None and report.as_uri() in summary.data
    board = Artifact.get("candlecast-leaderboard")
    assert board is not None and board.type == "table"
    rows = json.loads(board.data)
    assert {(r["series"], r["target"]) for r in rows} == {
        (str(KEY), "close"),
        (str(KEY), "volume"),
        (str(eth), "close"),
    }
    assert all(isinstance(r["MASE"], float) for r in rows)  # numbers, not strings
    for key, target in ((KEY, "close"), (KEY, "volume"), (eth, "close")):
        artifact = Artifact.get(series_artifact_key(str(key), target))
        assert artifact is not None, (key, target)
        assert artifact.type == "markdown"
        assert artifact.data.startswith(f"# {key} {target}")
        assert f"Report: {report.as_uri()}" in artifact.data
    assert Artifact.get(series_artifact_key(str(eth), "volume")) is None  # eth: close only
    assert series_artifact_key(str(eth), "close") == "candlecast-binance-eth-usdt-1h-close"


def test_a_report_that_cannot_be_written_does_not_fail_the_run(
    prefect_harness, tmp_path, candles_csv, monkeypatch
):
    import candlecast.core.report as report_module
    from candlecast.flows.forecast import forecast_flow
    from tests.fixtures.models import tiny_config

    def broken(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(report_module, "publish_report", broken)
    config = tiny_config(
        source={"name": "csv", "path": candles_csv, "history_days": 60},
        storage={"data_home": str(tmp_path / "home")},
        model={"cells": [{"name": "simple", "units": 4}]},
        anomalies={"enabled": False},
        publish={"formats": ["csv"]},
    )
    summary = forecast_flow(config=config)
    assert summary["status"] == "ok"
    assert summary["report"] is None
    assert not (tmp_path / "home" / "reports").exists()
    artifact = Artifact.get("candlecast-run-summary")
    assert artifact is not None and summary["run_id"] in artifact.data
