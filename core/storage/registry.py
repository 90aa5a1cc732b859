"""The model registry: one row per trained model file, with what it was trained on.

A model is reused only when its record matches what the run would train now (series, cell,
head, parameters via `config_hash`) and its file loads in safe mode; otherwise it is reported
and retrained.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pandas as pd
import sqlalchemy as sa

from candlecast.core.market.candles import as_utc
from candlecast.core.storage.schema import metadata
from candlecast.core.storage.upsert import upsert_rows

TS = sa.DateTime(timezone=True)

models = sa.Table(
    "models",
    metadata,
    sa.Column("model_id", sa.String(64), primary_key=True),
    sa.Column("series", sa.String(200), nullable=False, index=True),
    sa.Column("target", sa.String(32), nullable=False, server_default="close"),
    sa.Column("model", sa.String(100), nullable=False),
    sa.Column("cell", sa.String(100), nullable=False),
    sa.Column("head", sa.String(20), nullable=False),
    sa.Column("params", sa.Text, nullable=False),
    sa.Column("config_hash", sa.String(64), nullable=False),
    sa.Column("data_start", TS, nullable=False),
    sa.Column("data_end", TS, nullable=False),
    sa.Column("data_hash", sa.String(64), nullable=False),
    sa.Column("metrics", sa.Text, nullable=False),
    sa.Column("versions", sa.Text, nullable=False),
    sa.Column("seed", sa.Integer, nullable=False),
    sa.Column("path", sa.Text, nullable=False),
    sa.Column("file_sha256", sa.String(64), nullable=False),
    sa.Column("created_at", TS, nullable=False),
    sa.Column("status", sa.String(16), nullable=False, default="active"),
    sa.Column("note", sa.Text),
)


@dataclass
class ModelRecord:
    model_id: str
    series: str
    model: str
    cell: str
    head: str
    params: dict[str, Any]
    config_hash: str
    data_start: pd.Timestamp
    data_end: pd.Timestamp
    data_hash: str
    metrics: dict[str, Any]
    versions: dict[str, str]
    seed: int
    path: str
    file_sha256: str
    created_at: pd.Timestamp
    status: str = "active"
    note: str | None = None
    target: str = "close"  # what the model forecasts (close, volume, ...)

    def to_row(self) -> dict[str, Any]:
        row = {k: getattr(self, k) for k in (c.name for c in models.columns)}
        for key in ("params", "metrics", "versions"):
            row[key] = json.dumps(row[key], sort_keys=True, default=str)
        for key in ("data_start", "data_end", "created_at"):
            row[key] = pd.Timestamp(row[key]).tz_convert("UTC").to_pydatetime()
        return row

    @classmethod
    def from_row(cls, row: Any) -> ModelRecord:
        data = dict(row)
        for key in ("params", "metrics", "versions"):
            data[key] = json.loads(data[key])
        for key in ("data_start", "data_end", "created_at"):
            data[key] = as_utc(data[key])
        return cls(**data)


class ModelRegistry:
    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine

    def create(self) -> None:
        metadata.create_all(self.engine, tables=[models])

    def add(self, record: ModelRecord) -> None:
        with self.engine.begin() as conn:
            upsert_rows(conn, models, [record.to_row()], ["model_id"])

    def latest(self, series: str, model: str, target: str = "close") -> ModelRecord | None:
        """The newest active model of `model` forecasting `target` for `series`."""
        query = (
            sa.select(models)
            .where(
                models.c.series == series,
                models.c.target == target,
                models.c.model == model,
                models.c.status == "active",
            )
            .order_by(models.c.created_at.desc())
            .limit(1)
        )
        with self.engine.connect() as conn:
            row = conn.execute(query).mappings().first()
        return ModelRecord.from_row(row) if row else None

    def update_metrics(self, model_id: str, metrics: dict[str, Any]) -> None:
        """Merge `metrics` into a model's recorded metrics (e.g. its backtest MAE)."""
        with self.engine.begin() as conn:
            current = conn.execute(
                sa.select(models.c.metrics).where(models.c.model_id == model_id)
            ).scalar()
            merged = json.loads(current or "{}") | metrics
            conn.execute(
                sa.update(models)
                .where(models.c.model_id == model_id)
                .values(metrics=json.dumps(merged, sort_keys=True, default=str))
            )

    def reject(self, model_id: str, reason: str) -> None:
        """Never use this model again (file corrupt, metadata mismatch); keep the row as history."""
        with self.engine.begin() as conn:
            conn.execute(
                sa.update(models)
                .where(models.c.model_id == model_id)
                .values(status="rejected", note=reason)
            )

    def all(self, series: str | None = None) -> list[ModelRecord]:
        query = sa.select(models).order_by(models.c.created_at)
        if series is not None:
            query = query.where(models.c.series == series)
        with self.engine.connect() as conn:
            return [ModelRecord.from_row(r) for r in conn.execute(query).mappings().all()]
