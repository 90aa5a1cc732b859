"""Terminal progress for `candlecast run` and `candlecast fetch` (rich), fed by
`flows.progress` events."""

from __future__ import annotations

import time
from typing import Any

from rich.console import Console
from rich.live import Live
from rich.table import Table

from candlecast.core.candles import SeriesKey
from candlecast.core.config import Config
from candlecast.core.errors import CandlecastError
from candlecast.flows import progress

console = Console(stderr=True)


class StageBoard:
    """The newest stage of every series, as a live table."""

    def __init__(self) -> None:
        self.rows: dict[str, tuple[str, str, float]] = {}
        self.started = time.perf_counter()

    def update(self, series: str, stage: str, detail: str) -> None:
        self.rows[series] = (stage, detail, time.perf_counter() - self.started)

    def __rich__(self) -> Table:
        table = Table(title="candlecast", expand=False)
        for column in ("series", "stage", "detail", "s"):
            table.add_column(column)
        for series, (stage, detail, seconds) in sorted(self.rows.items()):
            style = "red" if stage == "failed" else "green" if stage == "done" else ""
            table.add_row(
                series, f"[{style}]{stage}[/]" if style else stage, detail[:90], f"{seconds:.0f}"
            )
        return table


def run_with_progress(config: Config, mode: str) -> dict[str, Any]:
    from candlecast.flows.forecast import forecast_flow

    board = StageBoard()
    progress.set_listener(board.update)
    try:
        with Live(board, console=console, refresh_per_second=4, transient=False):
            return forecast_flow(config=config, mode=mode)
    finally:
        progress.set_listener(None)


def fetch_with_progress(config: Config) -> dict[SeriesKey, Any]:
    """Sync every series (no Prefect run needed); a failure is reported per series."""
    from candlecast.flows.runtime import open_store, resolve_plugins

    source = resolve_plugins(config).source
    source.check(config.source)
    store = open_store(config.storage.resolved_database_url)
    board = StageBoard()
    reports: dict[SeriesKey, Any] = {}
    with Live(board, console=console, refresh_per_second=4):
        for key in source.series(config.source):
            board.update(str(key), "fetch", "syncing")
            try:
                report = source.sync(config.source, key, store.candles)
                board.update(str(key), "done", f"{report.new_candles} new candles")
                reports[key] = report
            except CandlecastError as exc:
                board.update(str(key), "failed", str(exc))
                reports[key] = str(exc)
    return reports
