"""The `sql` publisher: the run's forecasts, intervals, metrics, flags and events into another
database (`publish.sql_url` or CANDLECAST_SQL_URL), e.g. a warehouse PostgreSQL, with the same
tables as the store. One transaction; upserts on natural keys, so re-publishing adds nothing.

The store's own database always holds these rows already; pointing `sql_url` at it is
recognised and skipped.
"""

from __future__ import annotations

from candlecast.core.config import Config
from candlecast.core.errors import ConfigError
from candlecast.core.results import RunResults
from candlecast.core.storage.engine import redact_url
from candlecast.core.storage.store import Store
from candlecast.plugins import hookimpl
from candlecast.plugins.publishers.base import PublishReport


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
        if url == config.storage.resolved_database_url:
            report.note = f"{redact_url(url)} is the store itself: rows are already there"
            return report
        target = Store(url).create()
        try:
            with target.engine.begin() as conn:
                report.rows = target.runs.record(results, conn) | target.anomalies.record(
                    results, conn
                )
        finally:
            target.close()
        report.note = f"{sum(report.rows.values())} rows into {target.display_url}"
        return report


@hookimpl
def register_publishers(register) -> None:
    register(SqlPublisher())
