"""Portable upserts on natural keys (INSERT ... ON CONFLICT DO UPDATE) for SQLite and
PostgreSQL. Values are always bound parameters."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import sqlalchemy as sa

from candlecast.core.errors import StorageError

CHUNK = 5000


def upsert_rows(
    conn: sa.Connection,
    table: sa.Table,
    rows: Sequence[dict[str, Any]],
    keys: Iterable[str],
    *,
    update: bool = True,
) -> int:
    """Insert `rows`; rows whose `keys` exist are updated (or left alone with update=False).

    Runs inside the caller's transaction. Returns the number of rows sent.
    """
    if not rows:
        return 0
    keys = list(keys)
    dialect = conn.dialect.name
    if dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert
    elif dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        raise StorageError(
            f"database dialect {dialect!r} is not supported; use sqlite or postgresql"
        )
    columns = list(rows[0])
    different = next((row for row in rows if row.keys() != rows[0].keys()), None)
    if different is not None:
        raise StorageError(
            f"rows for {table.name} must all have the same columns: {columns} and {list(different)}"
        )
    statement = insert(table)
    changing = [c for c in columns if c not in keys]
    if update and changing:
        statement = statement.on_conflict_do_update(
            index_elements=keys, set_={c: statement.excluded[c] for c in changing}
        )
    else:
        statement = statement.on_conflict_do_nothing(index_elements=keys)
    # one statement, compiled once, with the rows as its parameter sets (executemany), in
    # chunks so that a large write does not hold every row's parameters at once
    for start in range(0, len(rows), CHUNK):
        conn.execute(statement, list(rows[start : start + CHUNK]))
    return len(rows)
