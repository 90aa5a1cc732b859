"""One database for everything a run keeps: candles, runs, forecasts, flags, metrics, models."""

from __future__ import annotations

import sqlalchemy as sa

from candlecast.core.errors import StorageError
from candlecast.core.storage.anomaly_store import AnomalyStore
from candlecast.core.storage.candle_store import CandleStore
from candlecast.core.storage.engine import make_engine, redact_url
from candlecast.core.storage.registry import ModelRegistry
from candlecast.core.storage.runs import RunStore
from candlecast.core.storage.schema import metadata


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
        """Create missing tables; a database that cannot be reached is a StorageError."""
        try:
            metadata.create_all(self.engine)
        except sa.exc.OperationalError as exc:
            reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
            raise StorageError(f"database {self.display_url} is unreachable: {reason}") from None
        return self

    def close(self) -> None:
        self.engine.dispose()
