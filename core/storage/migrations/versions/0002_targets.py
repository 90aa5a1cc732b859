"""Several forecast targets per series: `target` joins the natural keys of forecasts, interval
bounds and backtest metrics, and the model registry says what each model forecasts.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28

Rows written before (one target per run) get the target their run forecast: the run's stored
configuration says it (`model.target`, `close` by default); registry rows get `close` (a model
trained for another target no longer matches the configuration fingerprint, and is retrained
once). SQLite cannot change a primary key in place: batch mode copies each table into its new
form, keeping every row.
"""

from __future__ import annotations

import json

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None

KEYS = {
    "forecasts": ("series", "target", "model", "issued_at", "step"),
    "forecast_intervals": ("series", "target", "model", "issued_at", "step", "level"),
    "backtest_metrics": ("run_id", "series", "target", "model", "metric"),
}
OLD_KEYS = {name: tuple(c for c in key if c != "target") for name, key in KEYS.items()}


def _run_targets(bind: sa.Connection) -> dict[str, str]:
    """run_id -> the target its configuration forecast, where it was not `close`."""
    targets = {}
    for run_id, config in bind.execute(sa.text("select run_id, config from runs")):
        try:
            target = (json.loads(config or "{}").get("model") or {}).get("target") or "close"
        except ValueError:
            continue
        if target != "close":
            targets[run_id] = target
    return targets


def _has_target(bind: sa.Connection, table: str) -> bool:
    """A table made by `metadata.create_all` with today's definitions has `target` already."""
    return "target" in {c["name"] for c in sa.inspect(bind).get_columns(table)}


def upgrade() -> None:
    bind = op.get_bind()
    for table, key in KEYS.items():
        if _has_target(bind, table):
            continue
        with op.batch_alter_table(table, recreate="always") as batch:
            batch.add_column(
                sa.Column("target", sa.String(32), nullable=False, server_default="close")
            )
            batch.drop_constraint(f"pk_{table}", type_="primary")
            batch.create_primary_key(f"pk_{table}", list(key))
    if not _has_target(bind, "models"):
        with op.batch_alter_table("models") as batch:
            batch.add_column(
                sa.Column("target", sa.String(32), nullable=False, server_default="close")
            )
    for run_id, target in _run_targets(bind).items():
        bind.execute(
            sa.text(
                "update forecast_intervals set target = :target where exists (select 1 from "
                "forecasts f where f.run_id = :run_id and f.series = forecast_intervals.series "
                "and f.model = forecast_intervals.model and f.issued_at = "
                "forecast_intervals.issued_at and f.step = forecast_intervals.step)"
            ),
            {"run_id": run_id, "target": target},
        )
        for table in ("forecasts", "backtest_metrics"):
            rows = sa.table(table, sa.column("target"), sa.column("run_id"))
            bind.execute(sa.update(rows).where(rows.c.run_id == run_id).values(target=target))


def downgrade() -> None:
    with op.batch_alter_table("models") as batch:
        batch.drop_column("target")
    for table, key in OLD_KEYS.items():
        rows = sa.table(table, sa.column("target"))
        op.execute(sa.delete(rows).where(rows.c.target != "close"))
        with op.batch_alter_table(table, recreate="always") as batch:
            batch.drop_constraint(f"pk_{table}", type_="primary")
            batch.create_primary_key(f"pk_{table}", list(key))
            batch.drop_column("target")
