"""Writing a run's report and refreshing the index: what the flow's `render-report` task and
`candlecast report` do."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from candlecast.core.report.files import write_index, write_run_report
from candlecast.core.report.index import IndexEntry, entry_from_results
from candlecast.core.report.page import render_run_report
from candlecast.core.results import RunResults
from candlecast.core.storage.location import Location

REPORTS_FOLDER = "reports"


def reports_dir(data_home: Path) -> Path:
    """Where reports live: `<data_home>/reports`."""
    return Path(data_home) / REPORTS_FOLDER


def publish_report(
    results: RunResults, folder: Path | Location, entries: Iterable[IndexEntry] = ()
) -> Path | Location:
    """Write `<folder>/<run_id>.html` and `<folder>/index.html` (listing `entries`, plus this
    run when they lack it); returns the report's path."""
    path = write_run_report(folder, results.run_id, render_run_report(results))
    runs = {entry.run_id: entry for entry in entries}
    runs.setdefault(results.run_id, entry_from_results(results))
    write_index(folder, runs.values())
    return path
