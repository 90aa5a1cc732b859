"""Faults inside a run of the forecast flow (under prefect_test_harness): the database failing
while the run is recorded, a disk filling up while files are published, a registered model
file corrupt, missing or unsafe. Each asserts the outcome the operator sees and that the
stored data and the previous outputs are intact."""

from __future__ import annotations

import json
import logging
import shutil
import subprocess

import pytest
import sqlalchemy as sa

from candlecast.core.errors import StorageError
from candlecast.core.storage.registry import models as models_table
from candlecast.flows import forecast as forecast_module
from candlecast.flows import stages as stages_module
from candlecast.flows.forecast import forecast_flow
from candlecast.flows.runtime import open_store
from tests.faults.conftest import snapshot, table_rows, temporaries
from tests.fixtures.models import tiny_config

pytestmark = [pytest.mark.faults, pytest.mark.slow]

SERIES = "csv:BTC/USDT:1h"
ROWS = 4 * 3  # horizon 4 x (gru, naive, seasonal_naive): one network, nothing to combine


def _config(home, csv, db_url=None, **sections):
    data = {
        "source": {"name": "csv", "path": str(csv), "history_days": 60},
        "model": {"cells": [{"name": "gru", "units": 4}]},
        "anomalies": {"enabled": False},
        "publish": {"formats": ["csv", "json"]},
        "storage": {"data_home": str(home), "lock_wait_s": 0}
        | ({"database_url": db_url} if db_url else {}),
    }
    for section, values in sections.items():
        data.setdefault(section, {}).update(values)
    return tiny_config(**data)


def _stored(url: str) -> dict[str, list]:
    return {t: table_rows(url, t) for t in ("runs", "forecasts", "forecast_intervals", "models")}


@pytest.fixture
def no_retry_delay(monkeypatch):
    """The flow's I/O tasks retry at once (their retry count is unchanged)."""
    for module, name in ((forecast_module, "record_run"), (stages_module, "publish")):
        task = getattr(module, name)
        monkeypatch.setattr(module, name, task.with_options(retry_delay_seconds=0))


def test_the_database_failing_while_a_run_is_recorded(
    prefect_harness, tmp_path, series_csv, db_url, no_retry_delay
):
    """Mid-transaction (the forecasts' interval rows): retried; a failure that lasts fails the
    run clearly, rolls back every row of it, and nothing of it is published."""
    config = _config(tmp_path / "home", series_csv, db_url)
    url = config.storage.resolved_database_url
    assert forecast_flow(config=config)["status"] == "ok"
    before, outputs = _stored(url), snapshot(tmp_path / "home" / "outputs")
    engine = open_store(url).engine
    attempts = {"n": 0, "fail": 99}

    def drop_connection(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith("INSERT INTO FORECAST_INTERVALS"):
            attempts["n"] += 1
            if attempts["n"] <= attempts["fail"]:
                raise sa.exc.OperationalError(
                    statement[:40], {}, Exception("server closed the connection unexpectedly")
                )

    sa.event.listen(engine, "before_cursor_execute", drop_connection)
    try:
        with pytest.raises(StorageError) as failed:
            forecast_flow(config=config, mode="forecast")
        message = str(failed.value)
        assert message.startswith("could not record run ")
        assert f"in database {open_store(url).display_url} (OperationalError: server closed" in (
            message
        )
        assert "rolled back, nothing of this run is stored or published" in message
        assert attempts["n"] == 4  # the first try and three retries
        assert _stored(url) == before  # not one row of the failed run (its run row neither)
        assert snapshot(tmp_path / "home" / "outputs") == outputs  # the files never saw it
        assert table_rows(url, "series_locks") == []

        attempts.update(n=0, fail=1)  # the database comes back for the retry
        again = forecast_flow(config=config, mode="forecast")
        assert again["status"] == "ok" and attempts["n"] == 2
    finally:
        sa.event.remove(engine, "before_cursor_execute", drop_connection)
    after = _stored(url)
    assert len(after["runs"]) == len(before["runs"]) + 1
    assert len(after["forecasts"]) == len(before["forecasts"]) == ROWS  # upserted, not added
    assert (tmp_path / "home" / "outputs" / "runs" / again["run_id"]).is_dir()


@pytest.fixture
def tiny_disk(tmp_path):
    """A 2 MiB tmpfs for the outputs (real ENOSPC); skips where mounting is not allowed."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount)], capture_output=True
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def _fill(folder, keep: int = 0) -> None:
    """Fill the file system of `folder` up to `keep` free bytes."""
    with (folder / "filler").open("wb") as handle:
        try:
            while True:
                handle.write(b"\0" * 65536)
                handle.flush()
        except OSError:
            pass


@pytest.mark.parametrize("disk", ["tmpfs", "patched writer"])
def test_the_disk_filling_up_while_files_are_published(
    prefect_harness, tmp_path, series_csv, request, monkeypatch, no_retry_delay, disk
):
    """The run is recorded, the publisher fails with a clear message, the previous outputs
    stay byte for byte, no temporary file is left; with space again the next run publishes."""
    home = request.getfixturevalue("tiny_disk") if disk == "tmpfs" else tmp_path / "home"
    url = f"sqlite:///{tmp_path / 'db' / 'candlecast.db'}"  # the database has room
    config = _config(home, series_csv, url, storage={"artifact_dir": str(tmp_path / "models")})
    assert forecast_flow(config=config)["status"] == "ok"
    outputs = snapshot(home / "outputs")
    if disk == "tmpfs":
        _fill(home)
    else:
        from candlecast.plugins.publishers import files as files_module

        real, writes = files_module._write, {"n": 0}

        def full(frame, path, fmt):
            writes["n"] += 1
            if writes["n"] >= 3:  # a few files in, the disk is full (and stays full)
                path.write_bytes(b"half a file")
                raise OSError(28, "No space left on device")
            real(frame, path, fmt)

        monkeypatch.setattr(files_module, "_write", full)

    summary = forecast_flow(config=config, mode="forecast")
    assert summary["status"] == "partial"
    note = summary["published"]["files"]
    assert "could not write" in note and "No space left on device" in note
    assert any(p.startswith("publisher files failed") for p in summary["problems"])
    (recorded,) = [r for r in table_rows(url, "runs") if r[0] == summary["run_id"]]
    assert "partial" in recorded  # the run's row says so too, though it was recorded first
    assert snapshot(home / "outputs") == outputs  # the previous run's files, untouched
    assert temporaries(home) == []
    assert summary["run_id"] in [r[0] for r in table_rows(url, "runs")]  # recorded first

    if disk == "tmpfs":
        (home / "filler").unlink()
    else:
        monkeypatch.setattr(files_module, "_write", real)
    third = forecast_flow(config=config, mode="forecast")
    assert third["status"] == "ok"
    assert (home / "outputs" / "runs" / third["run_id"] / "manifest.json").is_file()
    assert temporaries(home) == []


def _registered(url: str) -> list[dict]:
    with sa.create_engine(url).connect() as conn:
        rows = conn.execute(sa.select(models_table).order_by(models_table.c.created_at))
        return [dict(r._mapping) for r in rows]


def _gru_note(url: str, run_id: str) -> str:
    run = open_store(url).runs.get_run(run_id)
    return run["summary"]["series"][0]["targets"]["close"]["model_details"]["gru"]["note"]


def test_a_corrupt_missing_or_unsafe_model_file_is_reported_and_retrained(
    prefect_harness, tmp_path, series_csv, caplog
):
    config = _config(tmp_path / "home", series_csv)
    url = config.storage.resolved_database_url
    first = forecast_flow(config=config, mode="train")
    (model,) = _registered(url)
    caplog.set_level(logging.WARNING, logger="candlecast.modelling")

    def forecast_only(expected: str, previous: dict) -> dict:
        caplog.clear()
        summary = forecast_flow(config=config, mode="forecast")
        # retrained and published, but the run says a registered model had to be rejected
        assert summary["status"] == "partial"
        assert any("registered model" in p and "rejected" in p for p in summary["problems"])
        note = _gru_note(url, summary["run_id"])
        assert note.startswith("trained: registered model unusable: ") and expected in note
        assert f"{previous['path']!r}" in note
        logged = [r.getMessage() for r in caplog.records]
        assert any(
            expected in m and "it is rejected and the model retrained" in m for m in logged
        ), logged
        rows = {r["model_id"]: r for r in _registered(url)}
        assert rows[previous["model_id"]]["status"] == "rejected"
        assert expected in rows[previous["model_id"]]["note"]
        (newest,) = [r for r in rows.values() if r["status"] == "active"]
        return newest

    # corrupt: the file changed since it was registered
    with open(model["path"], "r+b") as handle:
        handle.seek(100)
        handle.write(b"\0" * 64)
    second = forecast_only("changed since it was registered (checksum)", model)

    # missing
    shutil.move(second["path"], tmp_path / "moved.keras")
    third = forecast_only("is missing", second)

    # unsafe: a model with a Lambda layer (arbitrary code) under the registered checksum
    import keras

    unsafe = keras.Sequential([keras.Input((12, 3)), keras.layers.Lambda(lambda x: x * 2)])
    unsafe.save(third["path"])
    from candlecast.core.storage.atomic import sha256_file

    with sa.create_engine(url).begin() as conn:
        conn.execute(
            models_table.update()
            .where(models_table.c.model_id == third["model_id"])
            .values(file_sha256=sha256_file(third["path"]))
        )
    forecast_only("could not be loaded in safe mode", third)

    forecasts = table_rows(url, "forecasts")
    assert len(forecasts) == len({row[:4] for row in forecasts})  # no duplicate rows
    assert json.loads(
        (tmp_path / "home" / "outputs" / "runs" / first["run_id"] / "manifest.json").read_text()
    )
