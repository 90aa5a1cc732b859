"""The built-in publishers: `sql` (SQLite and PostgreSQL) and `files`.

Both must be idempotent (a re-run adds nothing) and all-or-nothing (a failure part-way leaves
the previous run's output as it was and nothing of the failed run).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

from candlecast.core.config import build_config
from candlecast.core.errors import ConfigError, StorageError
from candlecast.core.market.candles import SeriesKey
from candlecast.core.storage.anomaly_store import AnomalyStore, anomaly_events, anomaly_flags
from candlecast.core.storage.engine import make_engine
from candlecast.core.storage.runs import (
    RunStore,
    backtest_metrics,
    forecast_intervals,
    forecasts,
    runs,
)
from candlecast.plugins.publishers import files as files_module
from candlecast.plugins.publishers.files import FilesPublisher
from candlecast.plugins.publishers.sql import SqlPublisher, same_database
from tests.fixtures.results import HORIZON, KEY, MODELS, leaderboard_frame, make_outcome
from tests.fixtures.results import make_results as _make_results

TABLES = (runs, forecasts, forecast_intervals, backtest_metrics, anomaly_flags, anomaly_events)
ETH = SeriesKey("binance", "ETH/USDT", "1h")
METRICS_PER_MODEL = len(leaderboard_frame().columns) - 2  # every number but model, family


def _config(tmp_path: Path, sql_url: str | None = None, formats=("csv", "parquet", "json")):
    return build_config(
        {
            "storage": {"data_home": str(tmp_path / "home")},
            "publish": {"publishers": ["files"], "formats": list(formats), "sql_url": sql_url},
        }
    )


def make_results(run_id: str, **kwargs):
    return _make_results(run_id, **kwargs)


def _snapshot(engine: sa.Engine) -> dict[str, list[tuple]]:
    """Every row of every published table, sorted: to compare a database before and after."""
    out = {}
    with engine.connect() as conn:
        for table in TABLES:
            rows = conn.execute(sa.select(table)).all()
            out[table.name] = sorted(tuple(str(v) for v in row) for row in rows)
    return out


def _counts(engine: sa.Engine) -> dict[str, int]:
    return {name: len(rows) for name, rows in _snapshot(engine).items()}


# --- sql -------------------------------------------------------------------------------------


def test_sql_publish_writes_every_table_once_and_a_rerun_adds_nothing(db_url, tmp_path):
    results = make_results("run-a")
    config = _config(tmp_path, db_url)
    first = SqlPublisher().publish(results, config)
    expected = {
        "runs": 1,
        "forecasts": len(MODELS) * HORIZON,
        "forecast_intervals": len(MODELS) * HORIZON * 2,  # 80 % and 95 %
        "backtest_metrics": len(MODELS) * METRICS_PER_MODEL,
        "anomaly_flags": 2,
        "anomaly_events": 1,
    }
    engine = make_engine(db_url)
    try:
        assert _counts(engine) == expected
        assert first.rows["forecasts"] == expected["forecasts"]
        assert first.rows["anomaly_flags"] == 2  # new flags

        second = SqlPublisher().publish(results, config)
        assert _counts(engine) == expected
        assert second.rows["anomaly_flags"] == 0  # nothing new the second time

        with engine.connect() as conn:
            champions = conn.execute(
                sa.select(forecasts.c.model, forecasts.c.step, forecasts.c.value)
                .where(forecasts.c.champion.is_(True))
                .order_by(forecasts.c.step)
            ).all()
            upper_95 = conn.execute(
                sa.select(forecast_intervals.c.upper).where(
                    forecast_intervals.c.model == "lstm",
                    forecast_intervals.c.step == 1,
                    forecast_intervals.c.level == 0.95,
                )
            ).scalar_one()
        # make_outcome: lstm is the third model, level 100 + 2, value level + step
        assert [tuple(r) for r in champions] == [("lstm", s, 102.0 + s) for s in (1, 2, 3, 4)]
        assert upper_95 == pytest.approx(103.0 + 2.0)
    finally:
        engine.dispose()


def test_a_run_failing_mid_publish_leaves_the_previous_run_and_nothing_of_its_own(
    db_url, tmp_path, monkeypatch
):
    config = _config(tmp_path, db_url)
    SqlPublisher().publish(make_results("run-a"), config)
    engine = make_engine(db_url)
    before = _snapshot(engine)

    # run b forecasts the same origin again (its rows would update run a's by natural key)
    # and a second series (new rows); it dies after the run store wrote, before the flags
    failing = make_results(
        "run-b",
        series=(make_outcome(level=500.0), make_outcome(ETH, seed=1, level=900.0)),
    )
    written: list[dict[str, int]] = []
    record = RunStore.record

    def spy(self, results, conn=None):
        written.append(record(self, results, conn))
        return written[-1]

    def explode(self, results, conn):
        raise RuntimeError("connection lost in the middle of the transaction")

    monkeypatch.setattr(RunStore, "record", spy)
    monkeypatch.setattr(AnomalyStore, "record", explode)
    with pytest.raises(RuntimeError, match="connection lost"):
        SqlPublisher().publish(failing, config)
    assert written and written[0]["forecasts"] == 2 * len(MODELS) * HORIZON  # it did get that far

    try:
        assert _snapshot(engine) == before
        with engine.connect() as conn:
            for table in (runs, forecasts, backtest_metrics, anomaly_flags):
                leftover = conn.execute(
                    sa.select(sa.func.count()).where(table.c.run_id == "run-b")
                ).scalar_one()
                assert leftover == 0, table.name
            values = conn.execute(
                sa.select(forecasts.c.value).where(forecasts.c.model == "naive")
            ).scalars()
            assert sorted(values) == [101.0, 102.0, 103.0, 104.0]  # run a's, not 501..504
    finally:
        engine.dispose()


def test_a_database_error_mid_publish_is_a_storage_error_and_rolls_back(db_url, tmp_path):
    config = _config(tmp_path, db_url)
    SqlPublisher().publish(make_results("run-a"), config)
    engine = make_engine(db_url)
    before = _snapshot(engine)
    outcome = make_outcome(level=300.0)
    # a NULL score: the NOT NULL constraint rejects it inside the transaction, after the run,
    # its forecasts and metrics were written
    bad_flag = dataclasses.replace(outcome.flags[0], reason="x")
    object.__setattr__(bad_flag, "score", None)
    outcome.flags = [*outcome.flags, bad_flag]
    with pytest.raises(StorageError, match=r"anomaly_flags|could not publish run run-b"):
        SqlPublisher().publish(make_results("run-b", series=(outcome,)), config)
    try:
        assert _snapshot(engine) == before
    finally:
        engine.dispose()


def test_sql_publisher_without_a_target_names_the_setting(tmp_path):
    with pytest.raises(ConfigError, match=r"publish\.sql_url.*CANDLECAST_SQL_URL"):
        SqlPublisher().publish(make_results("run-a"), _config(tmp_path, None))


def test_sql_publisher_recognises_the_store_itself_however_spelled(tmp_path):
    config = _config(tmp_path, f"sqlite:///{tmp_path}/home/../home/candlecast.db")
    report = SqlPublisher().publish(make_results("run-a"), config)
    assert report.rows == {}
    assert "is the store itself" in report.note
    assert not (tmp_path / "home" / "candlecast.db").exists()  # nothing was written or made
    assert same_database("postgresql+psycopg2://u:a@db:5432/x", "postgresql://u:other@db:5432/x")
    assert not same_database("postgresql://u@db/x", "postgresql://u@db/y")


def _with_password(url: str, password: str) -> str:
    head, rest = url.split("://", 1)
    user, host = rest.split("@", 1)
    return f"{head}://{user}:{password}@{host}"


def test_the_password_never_appears_in_notes_logs_or_errors(pg_url, tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    url = _with_password(pg_url, "hunter2-secret")  # the test server trusts any password
    report = SqlPublisher().publish(make_results("run-a"), _config(tmp_path, url))
    assert "postgres:***@127.0.0.1" in report.note
    assert "hunter2" not in report.note
    assert "hunter2" not in caplog.text

    unreachable = "postgresql+psycopg2://postgres:hunter2-secret@127.0.0.1:9/x?connect_timeout=2"
    with pytest.raises(StorageError) as caught:
        SqlPublisher().publish(make_results("run-a"), _config(tmp_path, unreachable))
    assert "postgres:***@127.0.0.1:9/x" in str(caught.value)
    assert "hunter2" not in str(caught.value)
    assert "hunter2" not in caplog.text


# --- files -----------------------------------------------------------------------------------


def _tree(root: Path) -> dict[str, str]:
    """relative path -> sha256 of every file under `root`."""
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def _read(path: Path) -> pd.DataFrame:
    if path.suffix == ".csv":
        return pd.read_csv(path)
    if path.suffix == ".parquet":
        return pd.read_parquet(path)
    return pd.DataFrame(json.loads(path.read_text()))


def test_files_manifest_has_row_counts_and_checksums_of_every_file(tmp_path):
    results = make_results("run-a", series=(make_outcome(), make_outcome(ETH, seed=1)))
    FilesPublisher().publish(results, _config(tmp_path))
    run_dir = tmp_path / "home" / "outputs" / "runs" / "run-a"
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["run_id"] == "run-a"
    assert set(manifest["series"]) == {str(KEY), str(ETH)}
    expected_rows = {"forecasts": 2 * len(MODELS) * HORIZON, "flags": 4, "metrics": 6}
    assert len(manifest["files"]) == 9
    for entry in manifest["files"]:
        path = run_dir / entry["file"]
        assert entry["file"] == f"{entry['table']}.{entry['format']}"
        assert entry["rows"] == expected_rows[entry["table"]] == len(_read(path))
        assert entry["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
        assert entry["bytes"] == path.stat().st_size
    assert {p.name for p in run_dir.iterdir()} == {e["file"] for e in manifest["files"]} | {
        "manifest.json"
    }


def test_latest_view_holds_each_series_own_rows_and_only_moves_forward(tmp_path):
    config = _config(tmp_path, formats=("csv",))
    latest = tmp_path / "home" / "outputs" / "latest"
    FilesPublisher().publish(
        make_results("run-a", series=(make_outcome(), make_outcome(ETH, seed=1))), config
    )
    btc = pd.read_csv(latest / KEY.slug / "forecasts.csv")
    assert set(btc["series"]) == {str(KEY)}
    assert len(btc) == len(MODELS) * HORIZON
    assert btc.loc[btc["champion"], "model"].tolist() == ["lstm"] * HORIZON
    assert set(pd.read_csv(latest / ETH.slug / "flags.csv")["series"]) == {str(ETH)}
    manifest = json.loads((latest / KEY.slug / "manifest.json").read_text())
    assert manifest["run_id"] == "run-a"
    assert [e["rows"] for e in manifest["files"]] == [len(MODELS) * HORIZON, 2]

    newer = make_results("run-b", series=(make_outcome(n=610, level=200.0),))
    FilesPublisher().publish(newer, config)
    btc = pd.read_csv(latest / KEY.slug / "forecasts.csv")
    assert set(btc["run_id"]) == {"run-b"}
    assert pd.read_csv(latest / ETH.slug / "forecasts.csv")["run_id"].eq("run-a").all()

    # publishing the older run again rewrites its own folder but not the newer latest view
    report = FilesPublisher().publish(make_results("run-a"), config)
    assert "latest view kept for binance:BTC/USDT:1h" in report.note
    assert set(pd.read_csv(latest / KEY.slug / "forecasts.csv")["run_id"]) == {"run-b"}


def test_a_series_without_flags_gets_flag_files_with_a_header(tmp_path):
    FilesPublisher().publish(make_results("run-a", flags=0), _config(tmp_path))
    folder = tmp_path / "home" / "outputs" / "latest" / KEY.slug
    for suffix in ("csv", "parquet", "json"):
        frame = _read(folder / f"flags.{suffix}")
        assert len(frame) == 0
    assert list(pd.read_csv(folder / "flags.csv").columns)[:3] == ["run_id", "series", "timestamp"]


def test_a_dropped_format_leaves_no_stale_latest_file(tmp_path):
    FilesPublisher().publish(make_results("run-a"), _config(tmp_path))
    FilesPublisher().publish(make_results("run-a"), _config(tmp_path, formats=("csv",)))
    folder = tmp_path / "home" / "outputs" / "latest" / KEY.slug
    assert {p.name for p in folder.iterdir()} == {"forecasts.csv", "flags.csv", "manifest.json"}


def test_republishing_a_run_gives_the_same_files(tmp_path):
    config = _config(tmp_path)
    outputs = tmp_path / "home" / "outputs"
    FilesPublisher().publish(make_results("run-a"), config)
    first = _tree(outputs)
    FilesPublisher().publish(make_results("run-a"), config)
    assert _tree(outputs).keys() == first.keys()
    assert {k: v for k, v in _tree(outputs).items() if k.endswith(".csv")} == {
        k: v for k, v in first.items() if k.endswith(".csv")
    }


@pytest.mark.parametrize("fail_at", ["run folder", "latest view"])
def test_a_failure_mid_write_keeps_the_previous_output_and_leaves_no_temp_files(
    tmp_path, monkeypatch, fail_at
):
    config = _config(tmp_path)
    outputs = tmp_path / "home" / "outputs"
    FilesPublisher().publish(make_results("run-a"), config)
    before = _tree(outputs)

    writes = {"n": 0}
    real = files_module._write
    run_files = 3 * 3  # three tables in three formats go into the run folder first
    fail_on = 5 if fail_at == "run folder" else run_files + 3

    def flaky(frame, path, fmt):
        writes["n"] += 1
        if writes["n"] == fail_on:
            path.write_text("half a file")
            raise OSError(28, "No space left on device")
        real(frame, path, fmt)

    monkeypatch.setattr(files_module, "_write", flaky)
    later = make_results("run-b", series=(make_outcome(n=610, level=200.0),))
    with pytest.raises(StorageError, match="No space left on device"):
        FilesPublisher().publish(later, config)

    after = _tree(outputs)
    leftovers = [p for p in after if ".tmp" in p or ".old" in p]
    assert leftovers == []
    unchanged = {k: v for k, v in after.items() if not k.startswith("runs/run-b/")}
    assert unchanged == before  # run a's folder and the latest view, byte for byte
    if fail_at == "run folder":
        assert not (outputs / "runs" / "run-b").exists()
    else:  # the run folder was complete before the latest view failed
        assert json.loads((outputs / "runs" / "run-b" / "manifest.json").read_text())["files"]
