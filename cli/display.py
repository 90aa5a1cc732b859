"""Terminal progress for `candlecast run` and `candlecast fetch` (rich), fed by
`flows.progress` events."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import pandas as pd
from rich.console import Console
from rich.live import Live
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn
from rich.table import Table

from candlecast.core.config import Config
from candlecast.core.errors import CandlecastError, DataError
from candlecast.core.market.candles import SeriesKey
from candlecast.core.market.fetch_report import FetchReport
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
    from candlecast.flows.forecast import run_forecast

    board = StageBoard()
    progress.set_listener(board.update)
    try:
        with Live(board, console=console, refresh_per_second=4, transient=False):
            return run_forecast(config, mode)
    finally:
        progress.set_listener(None)
        if not console.is_terminal:  # a log file: the board's last line has no newline
            console.line()


@dataclass
class Fetched:
    """What `candlecast fetch` reports per series (`report` also when it failed part-way)."""

    report: FetchReport | None = None
    gaps_filled: int = 0  # candles a run would fill in the history window
    long_gaps: int = 0
    gap_error: str | None = None  # source.on_long_gap = "fail" and a gap too long: why
    error: str | None = None


def fetch_with_progress(config: Config) -> dict[SeriesKey, Fetched]:
    """Sync every series with a progress bar each (no Prefect run needed); then count the gaps
    a run would fill in the stored history. A failure is reported per series."""
    from candlecast.core.market.timeframes import timeframe_offset
    from candlecast.core.pipeline.plan import SeriesPlan
    from candlecast.core.pipeline.prepare import load_candles
    from candlecast.flows.runtime import open_store, resolve_plugins

    plan = SeriesPlan.from_config(config)
    source = resolve_plugins(config).source
    source.check(config.source)
    store = open_store(config.storage.resolved_database_url)
    results: dict[SeriesKey, Fetched] = {}
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        TextColumn("{task.fields[note]}"),
    )
    with Progress(*columns, console=console) as bars:
        for key in source.series(config.source):
            task = bars.add_task(str(key), total=None, note="syncing")
            step = timeframe_offset(key.timeframe)

            def advance(since: pd.Timestamp, through: pd.Timestamp, task=task, step=step) -> None:
                total = max(1.0, (pd.Timestamp.now(tz="UTC") - since) / step)
                bars.update(task, total=total, completed=min(total, (through - since) / step + 1))

            fetched = Fetched()
            try:
                fetched.report = source.sync(config.source, key, store.candles, advance)
                try:
                    _, gaps = load_candles(store.candles, key, plan)
                    fetched.gaps_filled, fetched.long_gaps = (
                        gaps.filled_candles,
                        len(gaps.long_gaps),
                    )
                except DataError as exc:  # the candles are stored; a run would stop on them
                    fetched.gap_error = str(exc)
                done = fetched.report.new_candles
                bars.update(task, total=1, completed=1, note=f"{done} new candles")
            except CandlecastError as exc:
                fetched.error = str(exc)
                fetched.report = getattr(exc, "report", None)  # how far a partial fetch got
                got = fetched.report
                after = f" after {got.new_candles} new candles" if got is not None else ""
                bars.update(task, total=1, completed=0, note=f"[red]failed[/]{after}")
            results[key] = fetched
    return results
