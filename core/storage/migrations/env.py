"""Alembic's environment for candlecast: migrations run on the connection the caller passes
in `config.attributes["connection"]`, inside the caller's transaction (which holds the lock
that serialises concurrent upgrades; see `candlecast.core.storage.migrations.runner`).

Offline mode (`alembic upgrade --sql`) renders the SQL for `sqlalchemy.url` instead.
"""

from __future__ import annotations

from alembic import context

from candlecast.core.storage.migrations.runner import VERSION_TABLE, complete_metadata

config = context.config
target_metadata = complete_metadata()


def run_offline() -> None:
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        target_metadata=target_metadata,
        literal_binds=True,
        version_table=VERSION_TABLE,
        render_as_batch=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    connection = config.attributes.get("connection")
    if connection is None:
        raise RuntimeError(
            "candlecast migrations run on a connection passed in "
            "config.attributes['connection']; use candlecast.core.storage.migrations.upgrade()"
        )
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=True,  # SQLite alters tables by copying them
        compare_type=True,
        version_table=VERSION_TABLE,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
