"""The run report: one self-contained HTML page per run (opens offline), an index of runs,
and per-series Markdown for Prefect artifacts.

- `render_run_report(results) -> str` and `render_index(entries) -> str` are pure functions.
- `candlecast.core.pipeline.rebuild` rebuilds a run's results from the database alone, so a
  report can be made later (`candlecast report --run ID`).
- `write_run_report` / `write_index` put them under `<data_home>/reports/`, atomically.
"""

from candlecast.core.report.artifacts import series_artifact_key, series_markdown
from candlecast.core.report.files import (
    report_name,
    write_html,
    write_index,
    write_run_report,
)
from candlecast.core.report.index import (
    IndexEntry,
    SeriesEntry,
    entry_from_results,
    entry_from_row,
    render_index,
)
from candlecast.core.report.page import render_run_report
from candlecast.core.report.publish import publish_report, reports_dir

__all__ = [
    "IndexEntry",
    "SeriesEntry",
    "entry_from_results",
    "entry_from_row",
    "publish_report",
    "render_index",
    "render_run_report",
    "report_name",
    "reports_dir",
    "series_artifact_key",
    "series_markdown",
    "write_html",
    "write_index",
    "write_run_report",
]
