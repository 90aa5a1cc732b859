"""Indexes for reading the recent published forecasts of one series and target: the realised
coverage and the anomaly step read only their window (target times after a point, intervals
issued after a point), and without these a store that has kept every hour's forecasts would be
scanned from its first run on.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28

Indexes only; no table or row changes.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | None = None
depends_on: str | None = None

INDEXES = {
    "forecasts": ("ix_forecasts_target_time", ["series", "target", "target_time"]),
    "forecast_intervals": ("ix_forecast_intervals_issued_at", ["series", "target", "issued_at"]),
}


def upgrade() -> None:
    inspector = sa.inspect(op.get_bind())
    for table, (name, columns) in INDEXES.items():
        if name not in {index["name"] for index in inspector.get_indexes(table)}:
            op.create_index(name, table, columns)  # `create_all` may have made it


def downgrade() -> None:
    for table, (name, _) in INDEXES.items():
        op.drop_index(name, table_name=table)
