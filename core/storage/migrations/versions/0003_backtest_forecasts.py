"""Stored backtest forecasts of registered networks (`core/storage/backtest_store.py`): a run
that reuses a model reads what it forecast at each backtest origin instead of recomputing it.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28

A new table only; nothing existing changes. A database without it simply recomputes (and then
stores) the forecasts on its next run.
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
    if "backtest_forecasts" in sa.inspect(op.get_bind()).get_table_names():
        return  # made by `metadata.create_all` with today's definitions
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
