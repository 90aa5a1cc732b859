"""The initial schema: candles, runs, forecasts, intervals, metrics, models, anomaly flags and
events, and the per-series run locks.

Revision ID: 0001
Revises:
Create Date: 2026-11-27

Databases made before migrations existed (`metadata.create_all`, no `alembic_version` table)
already have some or all of these tables: each table is created only where it is missing, so
upgrading such a database keeps every row and ends at this revision.

The definitions are frozen here on purpose: a later change to a store module's table goes
into a new revision, never into this one.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.schema import SchemaItem

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None

TS = sa.DateTime(timezone=True)


def _tables() -> dict[str, tuple[SchemaItem, ...]]:
    """Each table's columns and constraints, in creation order."""
    return {
        "candles": (
            sa.Column("exchange", sa.String(64), nullable=False),
            sa.Column("symbol", sa.String(64), nullable=False),
            sa.Column("timeframe", sa.String(16), nullable=False),
            sa.Column("ts", sa.BigInteger(), nullable=False),
            sa.Column("open", sa.Double(), nullable=False),
            sa.Column("high", sa.Double(), nullable=False),
            sa.Column("low", sa.Double(), nullable=False),
            sa.Column("close", sa.Double(), nullable=False),
            sa.Column("volume", sa.Double(), nullable=False),
            sa.PrimaryKeyConstraint("exchange", "symbol", "timeframe", "ts", name="pk_candles"),
        ),
        "runs": (
            sa.Column("run_id", sa.String(64), nullable=False),
            sa.Column("started", TS, nullable=False),
            sa.Column("finished", TS, nullable=True),
            sa.Column("status", sa.String(16), nullable=False),
            sa.Column("config_hash", sa.String(64), nullable=False),
            sa.Column("config", sa.Text(), nullable=False),
            sa.Column("versions", sa.Text(), nullable=False),
            sa.Column("summary", sa.Text(), nullable=False),
            sa.PrimaryKeyConstraint("run_id", name="pk_runs"),
        ),
        "forecasts": (
            sa.Column("series", sa.String(200), nullable=False),
            sa.Column("model", sa.String(100), nullable=False),
            sa.Column("issued_at", TS, nullable=False),
            sa.Column("step", sa.Integer(), nullable=False),
            sa.Column("target_time", TS, nullable=False),
            sa.Column("value", sa.Float(), nullable=False),
            sa.Column("family", sa.String(20), nullable=False),
            sa.Column("champion", sa.Boolean(), nullable=False),
            sa.Column("model_version", sa.String(64), nullable=True),
            sa.Column("run_id", sa.String(64), nullable=False),
            sa.PrimaryKeyConstraint("series", "model", "issued_at", "step", name="pk_forecasts"),
        ),
        "forecast_intervals": (
            sa.Column("series", sa.String(200), nullable=False),
            sa.Column("model", sa.String(100), nullable=False),
            sa.Column("issued_at", TS, nullable=False),
            sa.Column("step", sa.Integer(), nullable=False),
            sa.Column("level", sa.Float(), nullable=False),
            sa.Column("lower", sa.Float(), nullable=False),
            sa.Column("upper", sa.Float(), nullable=False),
            sa.PrimaryKeyConstraint(
                "series", "model", "issued_at", "step", "level", name="pk_forecast_intervals"
            ),
        ),
        "backtest_metrics": (
            sa.Column("run_id", sa.String(64), nullable=False),
            sa.Column("series", sa.String(200), nullable=False),
            sa.Column("model", sa.String(100), nullable=False),
            sa.Column("metric", sa.String(40), nullable=False),
            sa.Column("value", sa.Float(), nullable=True),
            sa.PrimaryKeyConstraint(
                "run_id", "series", "model", "metric", name="pk_backtest_metrics"
            ),
        ),
        "models": (
            sa.Column("model_id", sa.String(64), nullable=False),
            sa.Column("series", sa.String(200), nullable=False),
            sa.Column("model", sa.String(100), nullable=False),
            sa.Column("cell", sa.String(100), nullable=False),
            sa.Column("head", sa.String(20), nullable=False),
            sa.Column("params", sa.Text(), nullable=False),
            sa.Column("config_hash", sa.String(64), nullable=False),
            sa.Column("data_start", TS, nullable=False),
            sa.Column("data_end", TS, nullable=False),
            sa.Column("data_hash", sa.String(64), nullable=False),
            sa.Column("metrics", sa.Text(), nullable=False),
            sa.Column("versions", sa.Text(), nullable=False),
            sa.Column("seed", sa.Integer(), nullable=False),
            sa.Column("path", sa.Text(), nullable=False),
            sa.Column("file_sha256", sa.String(64), nullable=False),
            sa.Column("created_at", TS, nullable=False),
            sa.Column("status", sa.String(16), nullable=False),
            sa.Column("note", sa.Text(), nullable=True),
            sa.PrimaryKeyConstraint("model_id", name="pk_models"),
        ),
        "anomaly_flags": (
            sa.Column("series", sa.String(200), nullable=False),
            sa.Column("detector", sa.String(100), nullable=False),
            sa.Column("kind", sa.String(100), nullable=False),
            sa.Column("timestamp", TS, nullable=False),
            sa.Column("score", sa.Double(), nullable=False),
            sa.Column("threshold", sa.Double(), nullable=False),
            sa.Column("severity", sa.String(16), nullable=False),
            sa.Column("reason", sa.Text(), nullable=False),
            sa.Column("run_id", sa.String(64), nullable=False),
            sa.PrimaryKeyConstraint(
                "series", "detector", "kind", "timestamp", name="pk_anomaly_flags"
            ),
        ),
        "anomaly_events": (
            sa.Column("series", sa.String(200), nullable=False),
            sa.Column("kind", sa.String(100), nullable=False),
            sa.Column("start_time", TS, nullable=False),
            sa.Column("end_time", TS, nullable=False),
            sa.Column("peak_score", sa.Double(), nullable=False),
            sa.Column("severity", sa.String(16), nullable=False),
            sa.Column("flag_count", sa.Integer(), nullable=False),
            sa.Column("is_open", sa.Boolean(), nullable=False),
            sa.PrimaryKeyConstraint("series", "kind", "start_time", name="pk_anomaly_events"),
        ),
        "series_locks": (
            sa.Column("series", sa.String(200), nullable=False),
            sa.Column("run_id", sa.String(64), nullable=False),
            sa.Column("holder", sa.String(200), nullable=False),
            sa.Column("acquired_at", TS, nullable=False),
            sa.Column("expires_at", TS, nullable=False),
            sa.PrimaryKeyConstraint("series", name="pk_series_locks"),
        ),
    }


INDEXES = {
    "models": (("ix_models_series", ["series"]),),
    "anomaly_events": (("ix_anomaly_events_open", ["series", "is_open"]),),
}


def upgrade() -> None:
    existing = set(sa.inspect(op.get_bind()).get_table_names())
    for name, items in _tables().items():
        if name in existing:
            continue  # made by metadata.create_all before migrations: keep it and its rows
        op.create_table(name, *items)
        for index, columns in INDEXES.get(name, ()):
            op.create_index(index, name, columns)


def downgrade() -> None:
    for name in reversed(list(_tables())):
        op.drop_table(name)
