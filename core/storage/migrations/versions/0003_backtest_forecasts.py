"""Stored backtest forecasts of registered networks (`core/storage/backtest_store.py`): a run
that reuses a model reads what it forecast at each backtest origin instead of recomputing it;
and the last fitted parameters of the statistical models (`core/storage/fit_store.py`), where
the next fit starts.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28

New tables only; nothing existing changes.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | None = None
depends_on: str | None = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    existing = sa.inspect(op.get_bind()).get_table_names()  # `create_all` may have made them
    if "statistical_fits" not in existing:
        op.create_table(
            "statistical_fits",
            sa.Column("series", sa.String(200), nullable=False),
            sa.Column("target", sa.String(32), nullable=False),
            sa.Column("model", sa.String(100), nullable=False),
            sa.Column("settings", sa.String(200), nullable=False),
            sa.Column("params", sa.Text, nullable=False),
            sa.Column("fitted_at", TS, nullable=False),
            sa.PrimaryKeyConstraint("series", "target", "model", name=op.f("pk_statistical_fits")),
        )
    if "backtest_forecasts" in existing:
        return
    op.create_table(
        "backtest_forecasts",
        sa.Column("model_id", sa.String(64), nullable=False),
        sa.Column("series", sa.String(200), nullable=False),
        sa.Column("origin_time", TS, nullable=False),
        sa.Column("input_digest", sa.String(32), nullable=False),
        sa.Column("forecast", sa.LargeBinary, nullable=False),
        sa.PrimaryKeyConstraint(
            "model_id", "series", "origin_time", name=op.f("pk_backtest_forecasts")
        ),
    )


def downgrade() -> None:
    op.drop_table("backtest_forecasts")
    op.drop_table("statistical_fits")
