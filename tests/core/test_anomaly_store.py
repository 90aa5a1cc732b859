"""The anomaly store on SQLite and PostgreSQL: re-runs add no rows, an event that continues
across runs stays one row, times come back as UTC."""

from __future__ import annotations

from collections.abc import Iterator
from types import SimpleNamespace

import pandas as pd
import pytest
import sqlalchemy as sa

from candlecast.core.anomalies import AnomalyEvent, Flag, merge_events
from candlecast.core.errors import StorageError
from candlecast.core.storage.anomaly_store import AnomalyStore, anomaly_events, anomaly_flags

SERIES = "binance:BTC/USDT:1h"
OTHER = "binance:ETH/USDT:1h"
T0 = pd.Timestamp("2024-03-01 00:00", tz="UTC")
HOUR = pd.Timedelta("1h")


def flag(hours: int, *, series: str = SERIES, kind: str = "spike", score: float = 5.0) -> Flag:
    return Flag(
        series=series,
        timestamp=T0 + hours * HOUR,
        kind=kind,
        detector="irregular",
        score=score,
        threshold=4.0,
        severity="info",
        reason=f"Close moved, score {score}.",
    )


@pytest.fixture
def store(db_url: str) -> Iterator[AnomalyStore]:
    engine = sa.create_engine(db_url)
    store = AnomalyStore(engine)
    store.create()
    yield store
    engine.dispose()


def count(store: AnomalyStore, table: sa.Table) -> int:
    with store.engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())


def test_a_rerun_adds_no_duplicate_flags(store: AnomalyStore) -> None:
    flags = [flag(0), flag(1), flag(1, kind="level_shift"), flag(0, series=OTHER)]

    assert store.upsert_flags(flags, "run-1") == 4
    rescored = [flag(0, score=6.5), flag(1), flag(1, kind="level_shift"), flag(0, series=OTHER)]
    assert store.upsert_flags([*rescored, flag(2)], "run-2") == 1

    assert count(store, anomaly_flags) == 5
    stored = store.flags(SERIES)
    assert [(f.timestamp, f.kind) for f in stored] == [
        (T0, "spike"),
        (T0 + HOUR, "level_shift"),
        (T0 + HOUR, "spike"),
        (T0 + 2 * HOUR, "spike"),
    ]
    assert stored[0] == flag(0, score=6.5)  # the re-run's values, every field, UTC time
    assert stored[0].timestamp.tzinfo is not None
    assert [f.timestamp for f in store.flags(SERIES, since=T0 + HOUR)] == [T0 + 2 * HOUR]
    with store.engine.connect() as conn:
        runs = conn.execute(sa.select(anomaly_flags.c.run_id)).scalars().all()
    assert runs == ["run-2"] * 5  # each row names the latest run that raised it


def test_the_same_flag_twice_in_one_batch_is_one_row(store: AnomalyStore) -> None:
    assert store.upsert_flags([flag(0, score=5.0), flag(0, score=7.0)], "run-1") == 1
    assert [f.score for f in store.flags(SERIES)] == [7.0]


def test_an_event_continuing_across_runs_stays_one_row(store: AnomalyStore) -> None:
    first = merge_events([flag(5), flag(6)], "1h", store.open_events(SERIES), as_of=T0 + 6 * HOUR)
    store.upsert_events(first)
    assert [(e.start, e.end, e.open) for e in store.open_events(SERIES)] == [
        (T0 + 5 * HOUR, T0 + 6 * HOUR, True)
    ]

    second = merge_events(
        [flag(7, score=9.0), flag(8)], "1h", store.open_events(SERIES), as_of=T0 + 8 * HOUR
    )
    store.upsert_events(second)
    third = merge_events([], "1h", store.open_events(SERIES), as_of=T0 + 12 * HOUR)
    store.upsert_events(third)

    assert count(store, anomaly_events) == 1
    assert store.events(SERIES) == [
        AnomalyEvent(SERIES, "spike", T0 + 5 * HOUR, T0 + 8 * HOUR, 9.0, "info", 4, False)
    ]
    assert store.open_events(SERIES) == []


def test_open_events_are_per_series(store: AnomalyStore) -> None:
    events = [
        AnomalyEvent(SERIES, "spike", T0, T0, 5.0, "info", 1, True),
        AnomalyEvent(OTHER, "spike", T0, T0, 5.0, "warning", 1, True),
        AnomalyEvent(SERIES, "level_shift", T0 - HOUR, T0 - HOUR, 5.0, "info", 1, False),
    ]
    assert store.upsert_events(events) == 3
    assert store.upsert_events(events) == 0

    assert [e.kind for e in store.open_events(SERIES)] == ["spike"]
    assert [e.kind for e in store.events(SERIES)] == ["level_shift", "spike"]
    assert [e.severity for e in store.open_events(OTHER)] == ["warning"]


def test_a_run_is_recorded_in_the_callers_transaction(store: AnomalyStore) -> None:
    event = AnomalyEvent(SERIES, "spike", T0, T0 + HOUR, 6.0, "info", 2, True)
    results = SimpleNamespace(
        run_id="run-7",
        series=[SimpleNamespace(flags=[flag(0), flag(1)], events=[event])],
    )

    with pytest.raises(RuntimeError), store.engine.begin() as conn:
        store.record(results, conn)
        raise RuntimeError("the run's other writes failed")
    assert count(store, anomaly_flags) == 0  # rolled back with the rest of the run

    with store.engine.begin() as conn:
        assert store.record(results, conn) == {"anomaly_flags": 2, "anomaly_events": 1}
    assert store.events(SERIES) == [event]


def test_create_is_idempotent_and_keeps_rows(store: AnomalyStore) -> None:
    store.upsert_flags([flag(0)], "run-1")
    store.create()
    assert count(store, anomaly_flags) == 1


def test_a_missing_run_id_is_a_storage_error(store: AnomalyStore) -> None:
    with pytest.raises(StorageError, match="run_id must be a non-empty string, got ''"):
        store.upsert_flags([flag(0)], "")


def test_other_databases_are_refused() -> None:
    engine = sa.create_mock_engine("mysql+pymysql://", executor=lambda *a, **k: None)
    with pytest.raises(StorageError, match="supports the database dialects sqlite, postgresql"):
        AnomalyStore(engine)  # type: ignore[arg-type]
