"""The candle store: exchange candles per series in the shared database, upserted on open time.

Table `candles`, primary key (exchange, symbol, timeframe, ts); `ts` is the candle's open time in
epoch milliseconds (BIGINT: the same on SQLite and PostgreSQL, no timezone surprises). The store
keeps exchange candles only: gap-filled (synthetic) candles are made after loading, never stored.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from candlecast.core.errors import DataError, StorageError
from candlecast.core.market.candles import OHLCV_COLUMNS, SeriesKey, empty_frame, require_frame
from candlecast.core.storage.schema import metadata

candles = sa.Table(
    "candles",
    metadata,
    sa.Column("exchange", sa.String(64), nullable=False),
    sa.Column("symbol", sa.String(64), nullable=False),
    sa.Column("timeframe", sa.String(16), nullable=False),
    sa.Column("ts", sa.BigInteger, nullable=False),  # open time, epoch milliseconds UTC
    *(sa.Column(name, sa.Double, nullable=False) for name in OHLCV_COLUMNS),
    sa.PrimaryKeyConstraint("exchange", "symbol", "timeframe", "ts"),
)

KEY_COLUMNS = ("exchange", "symbol", "timeframe", "ts")
CHUNK_ROWS = 5_000
_DIALECT_INSERT = {"sqlite": sqlite.insert, "postgresql": postgresql.insert}


def _ms(timestamp: pd.Timestamp) -> int:
    ts = pd.Timestamp(timestamp)
    if ts.tzinfo is None:
        raise DataError(f"timestamp {timestamp!r} must be tz-aware (UTC); got a naive timestamp")
    return int(ts.value // 1_000_000)  # Timestamp.value is nanoseconds whatever the unit


class CandleStore:
    """Candles of many series in one database (`engine`: any SQLAlchemy engine, SQLite or PG)."""

    def __init__(self, engine: Engine) -> None:
        dialect = engine.dialect.name
        if dialect not in _DIALECT_INSERT:
            raise StorageError(
                f"the candle store supports the database dialects {', '.join(_DIALECT_INSERT)}, "
                f"got {dialect!r} ({engine.url.render_as_string(hide_password=True)})"
            )
        self.engine = engine
        self._insert = _DIALECT_INSERT[dialect]

    @classmethod
    def from_url(cls, url: str) -> CandleStore:
        """A store on `url`, for example `sqlite:///candles.db`."""
        return cls(sa.create_engine(url))

    def create(self) -> None:
        """Create the candles table where it is missing (existing data is kept)."""
        try:
            metadata.create_all(self.engine, tables=[candles], checkfirst=True)
        except SQLAlchemyError as exc:
            raise StorageError(f"could not create table candles: {exc}") from exc

    def _where(self, key: SeriesKey) -> Any:
        return sa.and_(
            candles.c.exchange == key.exchange,
            candles.c.symbol == key.symbol,
            candles.c.timeframe == key.timeframe,
        )

    def _rows(self, key: SeriesKey, frame: pd.DataFrame) -> Iterator[list[dict[str, Any]]]:
        ms = pd.DatetimeIndex(frame.index).as_unit("ms").asi8
        values = frame[list(OHLCV_COLUMNS)].to_numpy(dtype="float64")
        base = {"exchange": key.exchange, "symbol": key.symbol, "timeframe": key.timeframe}
        for start in range(0, len(ms), CHUNK_ROWS):
            yield [
                {**base, "ts": int(t), **dict(zip(OHLCV_COLUMNS, map(float, row), strict=True))}
                for t, row in zip(
                    ms[start : start + CHUNK_ROWS], values[start : start + CHUNK_ROWS], strict=True
                )
            ]

    def upsert(self, key: SeriesKey, frame: pd.DataFrame) -> int:
        """Insert or replace the candles of `frame` in one transaction; returns rows written.

        A candle already stored at the same open time is overwritten (the last write wins).
        """
        frame = require_frame(frame, f"candles for {key}")
        if bool(frame["synthetic"].any()):
            raise DataError(
                f"candles for {key} include {int(frame['synthetic'].sum())} synthetic (gap-filled) "
                f"candle(s); the store keeps exchange candles only, fill gaps after loading"
            )
        duplicated = frame.index.duplicated()
        if duplicated.any():
            raise DataError(
                f"candles for {key} repeat the open time {frame.index[duplicated][0].isoformat()}; "
                f"each candle must appear once per upsert (validate_candles removes repeats)"
            )
        if frame.empty:
            return 0
        stmt: Any = self._insert(candles)  # the dialect's Insert, with on_conflict_do_update
        stmt = stmt.on_conflict_do_update(
            index_elements=list(KEY_COLUMNS),
            set_={name: stmt.excluded[name] for name in OHLCV_COLUMNS},
        )
        written = 0
        try:
            with self.engine.begin() as conn:
                for chunk in self._rows(key, frame):
                    conn.execute(stmt, chunk)
                    written += len(chunk)
        except SQLAlchemyError as exc:
            raise StorageError(f"could not store {len(frame)} candles for {key}: {exc}") from exc
        return written

    def last_timestamp(self, key: SeriesKey) -> pd.Timestamp | None:
        """Open time of the newest stored candle of `key`, or None when there is none."""
        with self.engine.connect() as conn:
            value = conn.execute(sa.select(sa.func.max(candles.c.ts)).where(self._where(key)))
            ms = value.scalar()
        return None if ms is None else pd.Timestamp(int(ms), unit="ms", tz="UTC")

    def load(
        self,
        key: SeriesKey,
        start: pd.Timestamp | None = None,
        end: pd.Timestamp | None = None,
    ) -> pd.DataFrame:
        """The stored candles of `key` with `start <= open time < end`, as a candle frame."""
        query = sa.select(candles.c.ts, *(candles.c[name] for name in OHLCV_COLUMNS)).where(
            self._where(key)
        )
        if start is not None:
            query = query.where(candles.c.ts >= _ms(start))
        if end is not None:
            query = query.where(candles.c.ts < _ms(end))
        with self.engine.connect() as conn:
            rows = conn.execute(query.order_by(candles.c.ts)).all()
        return _frame(rows)

    def _selection(
        self,
        key: SeriesKey,
        start: pd.Timestamp | None = None,
        end: pd.Timestamp | None = None,
        off_grid_unit_ms: int | None = None,
    ) -> Any:
        """The candles of `key` with `start <= open time < end`; with `off_grid_unit_ms`, only
        those whose open time is not a multiple of it (stamps off the timeframe's grid)."""
        where = self._where(key)
        if start is not None:
            where = sa.and_(where, candles.c.ts >= _ms(start))
        if end is not None:
            where = sa.and_(where, candles.c.ts < _ms(end))
        if off_grid_unit_ms is not None:
            where = sa.and_(where, candles.c.ts % int(off_grid_unit_ms) != 0)
        return where

    def count(
        self,
        key: SeriesKey,
        start: pd.Timestamp | None = None,
        end: pd.Timestamp | None = None,
        off_grid_unit_ms: int | None = None,
    ) -> int:
        """Number of stored candles of `key` (in `[start, end)`, off the grid: see `delete`)."""
        where = self._selection(key, start, end, off_grid_unit_ms)
        with self.engine.connect() as conn:
            query = sa.select(sa.func.count()).select_from(candles).where(where)
            return int(conn.execute(query).scalar_one())

    def span(
        self,
        key: SeriesKey,
        start: pd.Timestamp | None = None,
        end: pd.Timestamp | None = None,
        off_grid_unit_ms: int | None = None,
    ) -> tuple[int, pd.Timestamp | None, pd.Timestamp | None]:
        """(count, oldest open time, newest open time) of the stored candles selected."""
        where = self._selection(key, start, end, off_grid_unit_ms)
        query = sa.select(sa.func.count(), sa.func.min(candles.c.ts), sa.func.max(candles.c.ts))
        with self.engine.connect() as conn:
            count, low, high = conn.execute(query.where(where)).one()
        return int(count), _stamp(low), _stamp(high)

    def delete(
        self,
        key: SeriesKey,
        start: pd.Timestamp | None = None,
        end: pd.Timestamp | None = None,
        off_grid_unit_ms: int | None = None,
    ) -> int:
        """Delete the candles of `key` with `start <= open time < end` (either bound may be
        None) in one transaction; with `off_grid_unit_ms` only those whose open time is not a
        multiple of it. Returns how many were deleted."""
        where = self._selection(key, start, end, off_grid_unit_ms)
        try:
            with self.engine.begin() as conn:
                return int(conn.execute(candles.delete().where(where)).rowcount)
        except SQLAlchemyError as exc:
            raise StorageError(f"could not delete candles of {key}: {exc}") from exc

    def series(self) -> list[SeriesKey]:
        """Every series with at least one stored candle, sorted."""
        query = (
            sa.select(candles.c.exchange, candles.c.symbol, candles.c.timeframe)
            .distinct()
            .order_by(candles.c.exchange, candles.c.symbol, candles.c.timeframe)
        )
        with self.engine.connect() as conn:
            return [SeriesKey(*row) for row in conn.execute(query)]


def _stamp(ms: Any) -> pd.Timestamp | None:
    return None if ms is None else pd.Timestamp(int(ms), unit="ms", tz="UTC")


def _frame(rows: Sequence[Any]) -> pd.DataFrame:
    if not rows:
        return empty_frame()
    array = np.asarray(rows, dtype="float64")
    index = pd.DatetimeIndex(
        pd.to_datetime(np.asarray([r[0] for r in rows], dtype="int64"), unit="ms", utc=True),
        name="timestamp",
    )
    frame = pd.DataFrame(array[:, 1:], columns=list(OHLCV_COLUMNS), index=index)
    frame["synthetic"] = False
    return frame
