"""Running the migrations: Alembic configured in code, one upgrade at a time per database.

`upgrade(engine)` takes a lock first, so that two processes starting on the same database
(two workers, a worker and `candlecast report`) do not both try to create the tables: on
PostgreSQL a transaction-level advisory lock, on SQLite a `BEGIN IMMEDIATE` write transaction
(the other writer waits out the engine's busy timeout). The migration runs inside that
transaction, so on both databases it commits whole or not at all.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import pkgutil
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError

from candlecast.core.errors import StorageError
from candlecast.core.storage.engine import redact_url
from candlecast.core.storage.schema import metadata

MIGRATIONS_DIR = Path(__file__).resolve().parent
VERSIONS_DIR = MIGRATIONS_DIR / "versions"
LOCK_KEY = 0x63616E646C63  # "candlc": the PostgreSQL advisory lock of schema upgrades
BUSY_RETRIES = 6  # SQLite "database is locked" answered at once: retry, 50 ms doubling
VERSION_TABLE = "candlecast_schema_version"
"""Where the schema revision is kept: not Alembic's default `alembic_version`, so that a database
shared with another Alembic-managed application (a warehouse the `sql` publisher writes to)
keeps both applications' revisions apart."""
DIALECTS = ("sqlite", "postgresql")


def complete_metadata() -> sa.MetaData:
    """The shared metadata with every store module's tables on it: each module of
    `candlecast.core.storage` is imported (each adds its tables on import)."""
    import candlecast.core.storage as storage

    for module in pkgutil.iter_modules(storage.__path__):
        if module.name != "migrations" and not module.ispkg:
            importlib.import_module(f"{storage.__name__}.{module.name}")
    return metadata


def alembic_config(
    connection: sa.Connection | None = None,
    extra_locations: Sequence[Path | str] = (),
    url: str | None = None,
) -> AlembicConfig:
    """Alembic's configuration without an ini file: the shipped scripts, plus any
    `extra_locations` (folders of further revisions, e.g. a test's), run on `connection`."""
    config = AlembicConfig()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("path_separator", "os")
    locations = [str(VERSIONS_DIR), *(str(Path(p).resolve()) for p in extra_locations)]
    config.set_main_option("version_locations", os.pathsep.join(locations))
    if url is not None:
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    config.attributes["connection"] = connection
    return config


def head_revision(extra_locations: Sequence[Path | str] = ()) -> str:
    """The newest revision the scripts define."""
    heads = ScriptDirectory.from_config(alembic_config(extra_locations=extra_locations)).get_heads()
    if len(heads) != 1:
        raise StorageError(
            f"the migration scripts must have exactly one head revision, got {sorted(heads)}; "
            f"merge the branches (alembic merge)"
        )
    return heads[0]


def current_revision(engine: sa.Engine) -> str | None:
    """The revision the database is at (None: never migrated)."""
    with engine.connect() as conn:
        return _context(conn).get_current_revision()


def upgrade(
    engine: sa.Engine, revision: str = "head", *, extra_locations: Sequence[Path | str] = ()
) -> str:
    """Bring the database to `revision` (default: the newest) and return where it is now.

    A database made by `metadata.create_all` before migrations existed is upgraded in place
    (the initial revision creates only missing tables). A database at a revision these scripts
    do not know (migrated by a newer candlecast) is a StorageError, and is left untouched.
    """
    dialect = engine.dialect.name
    if dialect not in DIALECTS:
        raise StorageError(
            f"schema migrations support the database dialects {', '.join(DIALECTS)}, "
            f"got {dialect!r} ({redact_url(str(engine.url))})"
        )
    where = engine.url.render_as_string(hide_password=True)
    for attempt in range(BUSY_RETRIES + 1):
        try:
            return _upgrade_locked(engine, revision, extra_locations, where)
        except sa.exc.OperationalError as exc:
            # SQLite answers "database is locked" at once, without waiting out the busy
            # timeout, where waiting could deadlock; the upgrade rolled back: try again
            busy = dialect == "sqlite" and "locked" in str(exc.orig or exc).lower()
            if not busy or attempt == BUSY_RETRIES:
                raise
            time.sleep(0.05 * 2**attempt)
    raise AssertionError("unreachable")  # pragma: no cover


def _upgrade_locked(
    engine: sa.Engine, revision: str, extra_locations: Sequence[Path | str], where: str
) -> str:
    with _locked(engine) as conn:
        config = alembic_config(conn, extra_locations)
        at = _context(conn).get_current_revision()
        script = ScriptDirectory.from_config(config)
        if at is not None and _unknown(script, at):
            raise StorageError(
                f"database {where} is at schema revision {at!r}, which this candlecast does not "
                f"know (its newest is {head_revision(extra_locations)!r}): a newer candlecast "
                f"migrated it; upgrade candlecast to use this database"
            )
        try:
            command.upgrade(config, revision)
        except CommandError as exc:
            raise StorageError(
                f"could not migrate database {where} to {revision!r}: {exc}"
            ) from exc
        now = _context(conn).get_current_revision()
        if revision == "head":  # an older revision need not have every table of today's
            _require_tables(conn, where)
    return now or ""


def _context(conn: sa.Connection) -> MigrationContext:
    return MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE})


def _unknown(script: ScriptDirectory, revision: str) -> bool:
    try:
        return script.get_revision(revision) is None
    except CommandError:
        return True


def _require_tables(conn: sa.Connection, where: str) -> None:
    """Every table a store module declares must exist after the upgrade."""
    existing = set(sa.inspect(conn).get_table_names())
    missing = sorted(set(complete_metadata().tables) - existing)
    if missing:
        raise StorageError(
            f"database {where} lacks table(s) {', '.join(missing)} after migrating: a store "
            f"module declares them but no revision in {VERSIONS_DIR} creates them; add one"
        )


@contextlib.contextmanager
def _locked(engine: sa.Engine) -> Iterator[sa.Connection]:
    """A connection in a transaction that no other upgrade of this database runs beside."""
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:
            conn.execute(sa.select(sa.func.pg_advisory_xact_lock(LOCK_KEY)))
            yield conn
        return
    with engine.connect() as conn:
        conn.exec_driver_sql("BEGIN IMMEDIATE")  # the write lock, before reading the version
        try:
            yield conn
        except BaseException:
            conn.rollback()
            raise
        conn.commit()
