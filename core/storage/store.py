"""One database for everything a run keeps: candles, runs, forecasts, flags, metrics, models."""

from __future__ import annotations

import sqlalchemy as sa

from candlecast.core.errors import StorageError
from candlecast.core.storage.anomaly_store import AnomalyStore
from candlecast.core.storage.candle_store import CandleStore
from candlecast.core.storage.engine import make_engine, redact_url
from candlecast.core.storage.migrations import current_revision, upgrade
from candlecast.core.storage.registry import ModelRegistry
from candlecast.core.storage.runs import RunStore


class Store:
    """The stores of one database URL, sharing one engine."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        self.candles = CandleStore(self.engine)
        self.runs = RunStore(self.engine)
        self.registry = ModelRegistry(self.engine)
        self.anomalies = AnomalyStore(self.engine)

    @property
    def display_url(self) -> str:
        return redact_url(self.url)

    def create(self) -> Store:
        """Migrate the database to the newest schema revision (`upgrade head`): a new database
        gets every table, an older one is upgraded in place keeping its rows. Safe to call from
        several processes at once. A database that cannot be reached is a StorageError."""
        try:
            upgrade(self.engine)
        except sa.exc.OperationalError as exc:
            reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
            raise StorageError(f"database {self.display_url} is unreachable: {reason}") from None
        except sa.exc.SQLAlchemyError as exc:
            raise StorageError(f"could not migrate database {self.display_url}: {exc}") from exc
        return self

    @property
    def revision(self) -> str | None:
        """The schema revision the database is at (None before `create`)."""
        return current_revision(self.engine)

    def close(self) -> None:
        self.engine.dispose()
