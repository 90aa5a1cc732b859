"""Indexes that keep a run's reads of its published forecasts cheap however old the store:
the realised coverage and the anomaly step read one series' and target's *champion* forecasts
of their window, and the anomaly step the newest origin a run forecast a series from.

`ix_forecasts_target_time` (series, target, target_time) reached every model's rows of the
window and looked each up to keep the champion's: a store with 90 days of hourly runs of ten
models read ~520,000 rows per series and target to return ~52,000. It is replaced by
(series, target, champion, target_time, issued_at), which also picks the freshest forecast of
each target time (the anomaly step's read) from the index alone. `last_origin` (the newest `issued_at` of a series)
scanned every forecast of the series; (series, issued_at) answers it from the index.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29

Indexes only; no table or row changes.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | None = None
depends_on: str | None = None

ADDED = {
    "ix_forecasts_champion_time": ["series", "target", "champion", "target_time", "issued_at"],
    "ix_forecasts_issued_at": ["series", "issued_at"],
}
REPLACED = ("ix_forecasts_target_time", ["series", "target", "target_time"])


def upgrade() -> None:
    existing = {index["name"] for index in sa.inspect(op.get_bind()).get_indexes("forecasts")}
    for name, columns in ADDED.items():
        if name not in existing:  # `create_all` may have made it
            op.create_index(name, "forecasts", columns)
    if REPLACED[0] in existing:
        op.drop_index(REPLACED[0], table_name="forecasts")


def downgrade() -> None:
    op.create_index(REPLACED[0], "forecasts", REPLACED[1])
    for name in ADDED:
        op.drop_index(name, table_name="forecasts")
