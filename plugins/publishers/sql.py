"""The `sql` publisher: the run's forecasts, intervals, metrics, flags and events into another
database (`publish.sql_url` or CANDLECAST_SQL_URL), e.g. a warehouse PostgreSQL, with the same
tables as the store (migrated to the same schema revision). One transaction; upserts on natural
keys, so re-publishing adds nothing, and a failure part-way leaves nothing of this run.

The store's own database always holds these rows already; pointing `sql_url` at it (however the
URL is spelled: driver, password) is recognised and skipped. URLs appear in notes, logs and
errors with `***` for the password.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import SQLAlchemyError

from candlecast.core.config import Config
from candlecast.core.errors import ConfigError, StorageError
from candlecast.core.results import RunResults
from candlecast.core.storage.engine import redact_url
from candlecast.core.storage.store import Store
from candlecast.plugins import hookimpl
from candlecast.plugins.publishers.base import PublishReport


def _identity(url: str) -> tuple[object, ...] | None:
    """What makes two URLs the same database: backend, host, port, database (a resolved path
    for SQLite files), user and query options; None when `url` does not parse."""
    try:
        parsed: URL = make_url(url)
    except Exception:
        return None
    database = parsed.database
    if parsed.get_backend_name() == "sqlite" and database and database != ":memory:":
        database = str(Path(database).resolve())
    return (
        parsed.get_backend_name(),
        parsed.host,
        parsed.port,
        database,
        parsed.username,
        tuple(sorted(parsed.query.items())),
    )


def same_database(a: str, b: str) -> bool:
    """Whether two SQLAlchemy URLs name the same database."""
    ia = _identity(a)
    return ia is not None and ia == _identity(b)


class SqlPublisher:
    name = "sql"
    description = "Forecasts, intervals, metrics and flags into a database (SQLAlchemy URL)"

    def publish(self, results: RunResults, config: Config) -> PublishReport:
        url = config.publish.sql_url
        if not url:
            raise ConfigError(
                "publisher 'sql' needs a target database: set publish.sql_url or the "
                "CANDLECAST_SQL_URL environment variable"
            )
        report = PublishReport(self.name)
        if same_database(url, config.storage.resolved_database_url):
            report.note = f"{redact_url(url)} is the store itself: rows are already there"
            return report
        target = Store(url)
        try:
            target.create()
            with target.engine.begin() as conn:
                report.rows = target.runs.record(results, conn) | target.anomalies.record(
                    results, conn
                )
        except SQLAlchemyError as exc:
            reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
            raise StorageError(
                f"could not publish run {results.run_id} to {target.display_url}: "
                f"{type(exc).__name__}: {reason}"
            ) from exc
        finally:
            target.close()
        report.note = f"{sum(report.rows.values())} rows into {target.display_url}"
        return report


@hookimpl
def register_publishers(register) -> None:
    register(SqlPublisher())
