"""Schema migrations: a new database, an old `create_all` database upgraded in place, a second
revision, concurrent upgrades, on SQLite and PostgreSQL."""

from __future__ import annotations

import multiprocessing
import textwrap

import pandas as pd
import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from candlecast.core.errors import StorageError
from candlecast.core.market.candles import SeriesKey
from candlecast.core.storage.candle_store import CandleStore
from candlecast.core.storage.engine import make_engine
from candlecast.core.storage.migrations import (
    complete_metadata,
    current_revision,
    head_revision,
    upgrade,
)
from candlecast.core.storage.migrations.runner import VERSION_TABLE
from candlecast.core.storage.runs import runs
from candlecast.core.storage.store import Store
from tests.fixtures.series import make_candles

KEY = SeriesKey("binance", "BTC/USDT", "1h")
TABLES = {
    "candles",
    "runs",
    "forecasts",
    "forecast_intervals",
    "backtest_metrics",
    "models",
    "anomaly_flags",
    "anomaly_events",
    "series_locks",
    "backtest_forecasts",
    "statistical_fits",
}


def _tables(engine: sa.Engine) -> set[str]:
    return set(sa.inspect(engine).get_table_names())


def _run_row(run_id: str) -> dict:
    return {
        "run_id": run_id,
        "started": pd.Timestamp("2024-01-02", tz="UTC").to_pydatetime(),
        "finished": None,
        "status": "ok",
        "config_hash": "abc",
        "config": "{}",
        "versions": "{}",
        "summary": "{}",
    }


def _count(engine: sa.Engine, table: str) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.text(f"select count(*) from {table}")).scalar_one())


def test_a_new_database_gets_every_table_at_the_head_revision(db_url):
    store = Store(db_url).create()
    try:
        assert _tables(store.engine) == TABLES | {VERSION_TABLE}
        assert set(complete_metadata().tables) == TABLES
        assert store.revision == head_revision() == "0005"
        with store.engine.connect() as conn:  # the migrated schema is what the stores declare
            context = MigrationContext.configure(
                conn, opts={"compare_type": True, "version_table": VERSION_TABLE}
            )
            assert compare_metadata(context, complete_metadata()) == []
    finally:
        store.close()


def test_create_twice_keeps_rows_and_the_revision(db_url):
    store = Store(db_url).create()
    try:
        store.candles.upsert(KEY, make_candles(30))
        store.create()
        assert store.candles.count(KEY) == 30
        with store.engine.connect() as conn:
            versions = conn.execute(sa.text(f"select version_num from {VERSION_TABLE}")).all()
        assert [v[0] for v in versions] == ["0005"]
    finally:
        store.close()


def test_a_create_all_database_is_upgraded_in_place_keeping_its_rows(db_url):
    engine = make_engine(db_url)
    complete_metadata().create_all(engine)  # how databases were made before migrations
    CandleStore(engine).upsert(KEY, make_candles(48))
    with engine.begin() as conn:
        conn.execute(runs.insert(), [_run_row("r1"), _run_row("r2")])
    assert current_revision(engine) is None
    engine.dispose()

    store = Store(db_url).create()
    try:
        assert store.revision == "0005"
        assert store.candles.count(KEY) == 48
        assert store.candles.load(KEY)["close"].iloc[-1] == pytest.approx(
            make_candles(48)["close"].iloc[-1]
        )
        assert _count(store.engine, "runs") == 2
        assert _tables(store.engine) == TABLES | {VERSION_TABLE}
    finally:
        store.close()


def test_a_database_with_only_some_tables_gets_the_missing_ones(db_url):
    engine = make_engine(db_url)
    CandleStore(engine).create()  # an old database that only ever stored candles
    CandleStore(engine).upsert(KEY, make_candles(24))
    assert _tables(engine) == {"candles"}
    upgrade(engine)
    assert _tables(engine) == TABLES | {VERSION_TABLE}
    assert CandleStore(engine).count(KEY) == 24
    engine.dispose()


SECOND_REVISION = '''
"""A test revision: runs.note and a new table."""
import sqlalchemy as sa
from alembic import op

revision = "0099"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("note", sa.Text(), nullable=True))
    op.create_table("run_notes", sa.Column("run_id", sa.String(64), primary_key=True))


def downgrade():
    op.drop_table("run_notes")
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("note")
'''


def test_a_later_revision_upgrades_in_place_and_old_code_refuses_the_newer_database(
    db_url, tmp_path
):
    extra = tmp_path / "versions"
    extra.mkdir()
    (extra / "0099_run_note.py").write_text(textwrap.dedent(SECOND_REVISION))
    store = Store(db_url).create()
    try:
        with store.engine.begin() as conn:
            conn.execute(runs.insert(), [_run_row("r1")])
        assert head_revision([extra]) == "0099"
        assert upgrade(store.engine, extra_locations=[extra]) == "0099"
        columns = {c["name"] for c in sa.inspect(store.engine).get_columns("runs")}
        assert "note" in columns
        assert "run_notes" in _tables(store.engine)
        with store.engine.connect() as conn:
            row = conn.execute(sa.text("select run_id, status, note from runs")).one()
        assert tuple(row) == ("r1", "ok", None)

        # the shipped scripts do not know 0099: a clear error, and the database is untouched
        with pytest.raises(StorageError, match=r"revision '0099'.*newer candlecast"):
            Store(db_url).create()
        assert current_revision(store.engine) == "0099"
    finally:
        store.close()


def _create_when_released(url: str, barrier, results) -> None:
    barrier.wait(timeout=30)
    try:
        store = Store(url).create()
        results.put(store.revision)
        store.close()
    except Exception as exc:  # reported to the test, which fails on it
        results.put(f"{type(exc).__name__}: {exc}")


def test_concurrent_creates_from_several_processes_all_succeed(db_url):
    workers = 4
    context = multiprocessing.get_context("fork")
    barrier, results = context.Barrier(workers), context.Queue()
    processes = [
        context.Process(target=_create_when_released, args=(db_url, barrier, results))
        for _ in range(workers)
    ]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=120)
    outcomes = sorted(results.get(timeout=5) for _ in processes)
    assert outcomes == ["0005"] * workers
    engine = make_engine(db_url)
    try:
        assert _count(engine, VERSION_TABLE) == 1
        assert _tables(engine) == TABLES | {VERSION_TABLE}
    finally:
        engine.dispose()


def test_an_unreachable_database_names_it_without_the_password():
    url = "postgresql+psycopg2://candle:s3cret-pw@127.0.0.1:9/nowhere?connect_timeout=2"
    with pytest.raises(StorageError) as caught:
        Store(url).create()
    message = str(caught.value)
    assert "unreachable" in message
    assert "candle:***@127.0.0.1:9/nowhere" in message
    assert "s3cret-pw" not in message


def test_a_database_of_the_one_target_release_upgrades_keeping_its_rows(db_url):
    """Revision 0001 (one target per run): every row survives 0002, and takes its run's
    target (close by default, volume where the run's configuration said so)."""
    engine = make_engine(db_url)
    try:
        assert upgrade(engine, "0001") == "0001"
        issued = pd.Timestamp("2024-01-02", tz="UTC").to_pydatetime()
        with engine.begin() as conn:
            conn.execute(runs.insert(), [_run_row("r-close"), _run_row("r-volume")])
            conn.execute(
                sa.text("update runs set config = :config where run_id = 'r-volume'"),
                {"config": '{"model": {"target": "volume"}}'},
            )
            for run_id, series in (("r-close", "x:A/B:1h"), ("r-volume", "x:C/D:1h")):
                conn.execute(
                    sa.text(
                        "insert into forecasts (series, model, issued_at, step, target_time, "
                        "value, family, champion, model_version, run_id) values (:s, 'naive', "
                        ":t, 1, :t, 1.5, 'baseline', true, null, :r)"
                    ),
                    {"s": series, "t": issued, "r": run_id},
                )
                conn.execute(
                    sa.text(
                        "insert into forecast_intervals (series, model, issued_at, step, level, "
                        "lower, upper) values (:s, 'naive', :t, 1, 0.8, 1.0, 2.0)"
                    ),
                    {"s": series, "t": issued},
                )
                conn.execute(
                    sa.text(
                        "insert into backtest_metrics (run_id, series, model, metric, value) "
                        "values (:r, :s, 'naive', 'mase', 1.0)"
                    ),
                    {"s": series, "r": run_id},
                )
        assert upgrade(engine) == head_revision() == "0005"
        with engine.connect() as conn:
            for table in ("forecasts", "forecast_intervals", "backtest_metrics"):
                rows = conn.execute(sa.text(f"select series, target from {table}")).all()
                assert sorted(rows) == [("x:A/B:1h", "close"), ("x:C/D:1h", "volume")], table
        # the new key lets both targets of one series stand side by side
        store = Store(db_url).create()
        assert store.runs.forecasts_for("x:C/D:1h", target="volume")["value"].tolist() == [1.5]
        assert store.runs.forecasts_for("x:C/D:1h").empty  # its close was never forecast
        store.close()
    finally:
        engine.dispose()


def test_a_0004_store_reads_its_champion_forecasts_through_the_0005_indexes(db_url):
    """0005 replaces the (series, target, target_time) index of the forecasts by one with the
    champion flag, and adds (series, issued_at): the schema is then what the stores declare,
    and the reads of published forecasts and of the newest origin use them."""
    engine = make_engine(db_url)
    try:
        assert upgrade(engine, "0004") == "0004"
        before = {index["name"] for index in sa.inspect(engine).get_indexes("forecasts")}
        assert "ix_forecasts_target_time" in before
        assert upgrade(engine) == "0005"
        after = {index["name"] for index in sa.inspect(engine).get_indexes("forecasts")}
        assert after - before == {"ix_forecasts_champion_time", "ix_forecasts_issued_at"}
        assert "ix_forecasts_target_time" not in after
        with engine.connect() as conn:
            context = MigrationContext.configure(
                conn, opts={"compare_type": True, "version_table": VERSION_TABLE}
            )
            assert compare_metadata(context, complete_metadata()) == []
        if engine.dialect.name == "sqlite":  # the planner's choice, where it can be asked
            with engine.connect() as conn:
                plans = {
                    index: " ".join(
                        str(row[-1])
                        for row in conn.exec_driver_sql(f"explain query plan {query}").all()
                    )
                    for index, query in (
                        (
                            "ix_forecasts_champion_time",
                            "select value from forecasts where series = 's' and target = 'close'"
                            " and champion is 1 and target_time > '2024-01-01'",
                        ),
                        (
                            "ix_forecasts_issued_at",
                            "select max(issued_at) from forecasts where series = 's'",
                        ),
                    )
                }
            for index, plan in plans.items():
                assert index in plan, plan
    finally:
        engine.dispose()
