"""A run SIGKILLed mid-training or mid-publish, and two runs of one series at once, through the
real `candlecast run` (subprocesses on one SQLite database).

A test-only pause point (`CANDLECAST_FAULTPOINT`, core/storage/faultpoints.py) stops a run at an exact
moment: just before a finished temporary file or folder is renamed over its target. The test
kills it there, or lets it go on."""

from __future__ import annotations

import json

import pytest

from candlecast.core.storage.atomic import sha256_file
from tests.faults.conftest import (
    kill,
    snapshot,
    start_cli,
    table_rows,
    temporaries,
    tiny_toml,
    wait_for,
)

pytestmark = [pytest.mark.faults, pytest.mark.slow]

SERIES = "csv:BTC/USDT:1h"
HORIZON, MODELS = 4, 3  # gru, naive, seasonal_naive (one network: no combination), 4 steps


@pytest.fixture
def workdir(tmp_path, series_csv):
    tiny_toml(tmp_path / "candlecast.toml", series_csv)
    return tmp_path


def _db(workdir) -> str:
    return f"sqlite:///{workdir / 'home' / 'candlecast.db'}"


def _run_ids(workdir) -> list[str]:
    return [row[0] for row in table_rows(_db(workdir), "runs")]


def _pause_and_kill(workdir, point: str, name: str) -> str:
    """Start `candlecast run`, wait until it reaches `point`, SIGKILL it; returns the log."""
    marker = workdir / f"{name}.marker"
    process = start_cli(
        "run",
        cwd=workdir,
        log=workdir / f"{name}.log",
        CANDLECAST_FAULTPOINT=point,
        CANDLECAST_FAULTPOINT_FILE=str(marker),
    )
    wait_for(marker, process)
    kill(process)
    return (workdir / f"{name}.log").read_text()


def test_runs_killed_mid_training_and_mid_publish_leave_nothing_partial(workdir):
    home = workdir / "home"

    # 1. killed while saving the trained model: the file is complete under its temporary name
    _pause_and_kill(workdir, "replace:*.keras", "training")
    assert _run_ids(workdir) == []  # nothing recorded: no run row, no forecasts
    assert table_rows(_db(workdir), "forecasts") == []
    assert table_rows(_db(workdir), "models") == []
    assert [t for t in temporaries(home) if t.endswith(".keras")]  # what the kill left
    assert not (home / "outputs").exists()
    assert [row[1] for row in table_rows(_db(workdir), "series_locks")] != []  # a dead holder

    # 2. killed while publishing: the run is recorded, its folder not yet renamed into place
    _pause_and_kill(workdir, "replace:*/outputs/runs/[0-9]*", "publish")
    (recorded,) = _run_ids(workdir)
    forecasts = table_rows(_db(workdir), "forecasts")
    assert len(forecasts) == HORIZON * MODELS
    assert [p.name for p in (home / "outputs" / "runs").iterdir()] == [
        t.split("/")[-1] for t in temporaries(home / "outputs")
    ]  # only the hidden temporary folder: no run folder is visible
    assert not (home / "outputs" / "latest").exists()

    # 3. the next run completes, takes over the dead runs' locks and sweeps their leftovers
    process = start_cli("run", cwd=workdir, log=workdir / "next.log")
    assert process.wait(timeout=400) == 0, (workdir / "next.log").read_text()
    log = (workdir / "next.log").read_text()
    assert "took over the lock of run" in log and "no longer runs" in log
    assert "Traceback" not in log
    runs = _run_ids(workdir)
    assert len(runs) == 2 and recorded in runs
    (latest_run,) = set(runs) - {recorded}
    after = table_rows(_db(workdir), "forecasts")
    assert len(after) == HORIZON * MODELS  # same data, same natural keys: no duplicate rows
    assert len({row[:4] for row in after}) == len(after)
    assert temporaries(home) == []  # swept: models/ and outputs/
    assert [p.name for p in (home / "outputs" / "runs").iterdir()] == [latest_run]
    latest = home / "outputs" / "latest" / "csv_BTC-USDT_1h" / "manifest.json"
    assert json.loads(latest.read_text())["run_id"] == latest_run
    for row in table_rows(_db(workdir), "models"):  # every registered model file is whole
        path, digest = row[13], row[14]
        assert sha256_file(path) == digest
    assert table_rows(_db(workdir), "series_locks") == []


def test_two_runs_of_one_series_at_once_one_is_refused_one_waits(workdir):
    home = workdir / "home"
    marker = workdir / "first.marker"
    first = start_cli(
        "run",
        cwd=workdir,
        log=workdir / "first.log",
        CANDLECAST_FAULTPOINT="replace:*.keras",  # holds its locks, paused mid-training
        CANDLECAST_FAULTPOINT_FILE=str(marker),
    )
    wait_for(marker, first)
    (holder,) = table_rows(_db(workdir), "series_locks")
    candles = table_rows(_db(workdir), "candles")

    refused = start_cli("run", cwd=workdir, log=workdir / "refused.log")  # lock_wait_s = 0
    assert refused.wait(timeout=300) == 2
    text = (workdir / "refused.log").read_text()
    errors = [line for line in text.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "Traceback" not in text
    assert f"error: series {SERIES} is being processed by run {holder[1]}" in errors[0]
    assert "since" in errors[0] and "is refused" in errors[0]
    assert _run_ids(workdir) == [] and table_rows(_db(workdir), "candles") == candles
    assert table_rows(_db(workdir), "series_locks") == [holder]  # untouched

    waiting = start_cli(
        "run", "--set", "storage.lock_wait_s=300", cwd=workdir, log=workdir / "waiting.log"
    )
    for _ in range(1200):  # until it says it waits
        if "waiting up to 300 s" in (workdir / "waiting.log").read_text():
            break
        assert waiting.poll() is None, (workdir / "waiting.log").read_text()
        __import__("time").sleep(0.25)
    else:
        raise AssertionError("the second run never said it was waiting")
    assert _run_ids(workdir) == []  # it waits before doing anything
    marker.unlink()  # the first run goes on and finishes; then the second one runs
    assert first.wait(timeout=400) == 0, (workdir / "first.log").read_text()
    assert waiting.wait(timeout=400) == 0, (workdir / "waiting.log").read_text()
    text = (workdir / "waiting.log").read_text()
    assert f"series {SERIES} is being processed by run {holder[1]}" in text
    assert len(_run_ids(workdir)) == 2
    forecasts = table_rows(_db(workdir), "forecasts")
    assert len(forecasts) == HORIZON * MODELS == len({row[:5] for row in forecasts})
    assert table_rows(_db(workdir), "series_locks") == []
    assert temporaries(home) == []
    assert len(snapshot(home / "outputs" / "runs")) > 0
