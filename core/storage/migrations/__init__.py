"""Alembic migrations of the candlecast database, run programmatically (no alembic.ini).

`upgrade(engine)` (runner.py) brings any database to the newest revision;
`Store.create()` calls it. The scripts ship as package data: `env.py` (how Alembic connects),
`script.py.mako` (the template of a new revision) and `versions/` (one file per revision).

Adding a revision (a new table or column in a store module's `sa.Table`):

    from alembic import command
    from candlecast.core.storage.migrations import alembic_config
    command.revision(alembic_config(), "add runs.note", rev_id="0002")

then write its `upgrade()` / `downgrade()` with `op.*` calls (SQLite needs
`op.batch_alter_table` to alter a table). `tests/core/test_migrations.py` fails while the
migrated schema differs from the tables the store modules declare.
"""

from candlecast.core.storage.migrations.runner import (
    alembic_config,
    complete_metadata,
    current_revision,
    head_revision,
    upgrade,
)

__all__ = ["alembic_config", "complete_metadata", "current_revision", "head_revision", "upgrade"]
