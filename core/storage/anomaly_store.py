"""Anomaly flags and events in the shared database, upserted on their natural keys.

Tables (on the shared `metadata`):

- `anomaly_flags`, primary key (series, detector, kind, timestamp): one row per flagged candle;
  a re-run updates the row (score, threshold, severity, reason, run_id) instead of adding one.
- `anomaly_events`, primary key (series, kind, start_time): an event that continues across runs
  keeps its start, so the next run updates the same row (end, peak, count, open).

Times are stored as timezone-aware UTC timestamps (PostgreSQL `timestamptz`; SQLite keeps the
UTC wall time) and read back as UTC pandas Timestamps.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from candlecast.core.anomalies.flag import AnomalyEvent, Flag, utc_timestamp
from candlecast.core.errors import StorageError
from candlecast.core.storage.schema import metadata
from candlecast.core.storage.upsert import upsert_rows

anomaly_flags = sa.Table(
    "anomaly_flags",
    metadata,
    sa.Column("series", sa.String(200), nullable=False),
    sa.Column("detector", sa.String(100), nullable=False),
    sa.Column("kind", sa.String(100), nullable=False),
    sa.Column("timestamp", sa.DateTime(timezone=True), nullable=False),
    sa.Column("score", sa.Double, nullable=False),
    sa.Column("threshold", sa.Double, nullable=False),
    sa.Column("severity", sa.String(16), nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("run_id", sa.String(64), nullable=False),
    sa.PrimaryKeyConstraint("series", "detector", "kind", "timestamp"),
)

anomaly_events = sa.Table(
    "anomaly_events",
    metadata,
    sa.Column("series", sa.String(200), nullable=False),
    sa.Column("kind", sa.String(100), nullable=False),
    sa.Column("start_time", sa.DateTime(timezone=True), nullable=False),
    sa.Column("end_time", sa.DateTime(timezone=True), nullable=False),
    sa.Column("peak_score", sa.Double, nullable=False),
    sa.Column("severity", sa.String(16), nullable=False),
    sa.Column("flag_count", sa.Integer, nullable=False),
    sa.Column("is_open", sa.Boolean, nullable=False),
    sa.PrimaryKeyConstraint("series", "kind", "start_time"),
)
sa.Index("ix_anomaly_events_open", anomaly_events.c.series, anomaly_events.c.is_open)

FLAG_KEY = ("series", "detector", "kind", "timestamp")
EVENT_KEY = ("series", "kind", "start_time")
DIALECTS = ("sqlite", "postgresql")


class AnomalyStore:
    """Flags and events of every series in one database (`engine`: SQLite or PostgreSQL)."""

    def __init__(self, engine: Engine) -> None:
        dialect = engine.dialect.name
        if dialect not in DIALECTS:
            raise StorageError(
                f"the anomaly store supports the database dialects "
                f"{', '.join(DIALECTS)}, got {dialect!r}"
            )
        self.engine = engine

    def create(self) -> None:
        """Create the two tables where they are missing (existing rows are kept)."""
        try:
            metadata.create_all(
                self.engine, tables=[anomaly_flags, anomaly_events], checkfirst=True
            )
        except SQLAlchemyError as exc:
            raise StorageError(f"could not create the anomaly tables: {exc}") from exc

    def upsert_flags(self, flags: Iterable[Flag], run_id: str) -> int:
        """Write `flags` in one transaction; returns how many were new (0 on a re-run)."""
        with self._begin("write anomaly flags") as conn:
            return self.write_flags(conn, flags, run_id)

    def upsert_events(self, events: Iterable[AnomalyEvent]) -> int:
        """Write `events` in one transaction (a continued event updates its row); returns how
        many were new."""
        with self._begin("write anomaly events") as conn:
            return self.write_events(conn, events)

    def record(self, results: Any, conn: Connection) -> dict[str, int]:
        """Write the flags and events of every series of a run (`RunResults`) inside the
        caller's transaction; returns the numbers of new flags and events."""
        flags = [flag for outcome in results.series for flag in outcome.flags]
        events = [event for outcome in results.series for event in outcome.events]
        return {
            "anomaly_flags": self.write_flags(conn, flags, results.run_id),
            "anomaly_events": self.write_events(conn, events),
        }

    def write_flags(self, conn: Connection, flags: Iterable[Flag], run_id: str) -> int:
        """`upsert_flags` inside the caller's transaction."""
        if not isinstance(run_id, str) or not run_id:
            raise StorageError(f"run_id must be a non-empty string, got {run_id!r}")
        rows = {
            (flag.series, flag.detector, flag.kind, flag.timestamp): _flag_row(flag, run_id)
            for flag in flags
        }
        series = sorted({key[0] for key in rows})
        return self._upsert(conn, anomaly_flags, list(rows.values()), FLAG_KEY, series)

    def write_events(self, conn: Connection, events: Iterable[AnomalyEvent]) -> int:
        """`upsert_events` inside the caller's transaction."""
        rows = {(e.series, e.kind, e.start): _event_row(e) for e in events}
        series = sorted({key[0] for key in rows})
        return self._upsert(conn, anomaly_events, list(rows.values()), EVENT_KEY, series)

    def open_events(self, series: str) -> list[AnomalyEvent]:
        """The events of `series` that the last run left open, oldest first."""
        query = (
            sa.select(anomaly_events)
            .where(anomaly_events.c.series == series, anomaly_events.c.is_open.is_(True))
            .order_by(anomaly_events.c.kind, anomaly_events.c.start_time)
        )
        return [_event(row) for row in self._rows(query)]

    def events(self, series: str) -> list[AnomalyEvent]:
        """Every event of `series`, oldest first."""
        query = (
            sa.select(anomaly_events)
            .where(anomaly_events.c.series == series)
            .order_by(anomaly_events.c.start_time, anomaly_events.c.kind)
        )
        return [_event(row) for row in self._rows(query)]

    def flags(self, series: str, since: pd.Timestamp | None = None) -> list[Flag]:
        """The flags of `series` (after `since` when given), oldest first."""
        query = sa.select(anomaly_flags).where(anomaly_flags.c.series == series)
        if since is not None:
            query = query.where(anomaly_flags.c.timestamp > _db_time(since))
        query = query.order_by(
            anomaly_flags.c.timestamp, anomaly_flags.c.detector, anomaly_flags.c.kind
        )
        return [_flag(row) for row in self._rows(query)]

    def _upsert(
        self,
        conn: Connection,
        table: sa.Table,
        rows: list[dict[str, Any]],
        keys: Sequence[str],
        series: Sequence[str],
    ) -> int:
        if not rows:
            return 0
        count = sa.select(sa.func.count()).select_from(table).where(table.c.series.in_(series))
        try:
            before = int(conn.execute(count).scalar_one())
            upsert_rows(conn, table, rows, keys)
            return int(conn.execute(count).scalar_one()) - before
        except SQLAlchemyError as exc:
            raise StorageError(f"could not write {table.name}: {exc}") from exc

    def _rows(self, query: sa.Select) -> list[sa.RowMapping]:
        try:
            with self.engine.connect() as conn:
                return list(conn.execute(query).mappings().all())
        except SQLAlchemyError as exc:
            raise StorageError(f"could not read anomalies: {exc}") from exc

    @contextmanager
    def _begin(self, what: str) -> Iterator[Connection]:
        """One transaction; database errors become StorageError naming `what`."""
        try:
            with self.engine.begin() as conn:
                yield conn
        except SQLAlchemyError as exc:
            raise StorageError(f"could not {what}: {exc}") from exc


def _db_time(value: pd.Timestamp) -> Any:
    """A UTC datetime for the database (SQLite stores its wall time, PostgreSQL the instant)."""
    return utc_timestamp(value, "timestamp").to_pydatetime()


def _read_time(value: Any) -> pd.Timestamp:
    stamp = pd.Timestamp(value)
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


def _flag_row(flag: Flag, run_id: str) -> dict[str, Any]:
    return {
        "series": flag.series,
        "detector": flag.detector,
        "kind": flag.kind,
        "timestamp": _db_time(flag.timestamp),
        "score": flag.score,
        "threshold": flag.threshold,
        "severity": flag.severity,
        "reason": flag.reason,
        "run_id": run_id,
    }


def _event_row(event: AnomalyEvent) -> dict[str, Any]:
    return {
        "series": event.series,
        "kind": event.kind,
        "start_time": _db_time(event.start),
        "end_time": _db_time(event.end),
        "peak_score": event.peak_score,
        "severity": event.severity,
        "flag_count": event.flag_count,
        "is_open": event.open,
    }


def _flag(row: sa.RowMapping) -> Flag:
    return Flag(
        series=row["series"],
        timestamp=_read_time(row["timestamp"]),
        kind=row["kind"],
        detector=row["detector"],
        score=row["score"],
        threshold=row["threshold"],
        severity=row["severity"],
        reason=row["reason"],
    )


def _event(row: sa.RowMapping) -> AnomalyEvent:
    return AnomalyEvent(
        series=row["series"],
        kind=row["kind"],
        start=_read_time(row["start_time"]),
        end=_read_time(row["end_time"]),
        peak_score=row["peak_score"],
        severity=row["severity"],
        flag_count=row["flag_count"],
        open=bool(row["is_open"]),
    )
