"""Creating SQLAlchemy engines the same way everywhere, and showing URLs without passwords."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import make_url

from candlecast.core.errors import StorageError


def redact_url(url: str) -> str:
    """`postgresql://user:secret@host/db` -> `postgresql://user:***@host/db`."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "<unparseable database URL>"


def make_engine(url: str) -> sa.Engine:
    """An engine for `url`; SQLite files get their folder, WAL and a busy timeout."""
    try:
        parsed = make_url(url)
    except Exception:
        raise StorageError(
            f"database URL {redact_url(url)!r} is not a SQLAlchemy URL "
            "(e.g. sqlite:///candlecast.db or postgresql+psycopg2://user@host/db)"
        ) from None
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            folder = Path(parsed.database).parent
            try:
                folder.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StorageError(
                    f"database {redact_url(url)} is unreachable: cannot create its folder "
                    f"{str(folder)!r}: {exc.strerror or exc}"
                ) from None
        engine = sa.create_engine(url, connect_args={"timeout": 60})

        @sa.event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn, _record) -> None:  # pragma: no cover - trivial
            cursor = dbapi_conn.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        return engine
    try:
        return sa.create_engine(url, pool_pre_ping=True)
    except Exception as exc:
        raise StorageError(f"cannot use database {redact_url(url)}: {exc}") from None
