"""`candlecast run`: one run of the forecast flow, with live progress and a summary table."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table

from candlecast.cli.app import console, quiet_prefect_console, quiet_runtime
from candlecast.cli.options import SeriesOptions, series_options
from candlecast.core.errors import CandlecastError


@series_options
def run(
    options: SeriesOptions,
    mode: Annotated[
        str, typer.Option(help="auto: retrain per policy; train: retrain all; forecast: reuse.")
    ] = "auto",
    check: Annotated[bool, typer.Option(help="Validate the configuration and stop.")] = False,
) -> None:
    """Run the forecast flow once: fetch, decompose, train/backtest, forecast, flag, publish."""
    cfg = options.build()
    if mode not in ("auto", "train", "forecast"):
        raise CandlecastError(f"--mode {mode!r} is unknown; allowed: auto, train, forecast")
    quiet_runtime()
    from candlecast.core.pipeline.plan import SeriesPlan
    from candlecast.flows.runtime import resolve_plugins

    SeriesPlan.from_config(cfg)  # a backtest layout that cannot work: one line, at once
    resolve_plugins(cfg).source.check(cfg.source)  # unreachable exchange: one line, at once
    if check:
        console.print("configuration is valid")
        return
    from candlecast.cli.display import run_with_progress

    quiet_prefect_console()
    summary = run_with_progress(cfg, mode)
    print_summary(summary)
    if summary["status"] != "ok":
        raise typer.Exit(1)


def print_summary(summary: dict[str, Any]) -> None:
    table = Table(title=f"run {summary['run_id']} — {summary['status']}")
    table.add_column("series")
    table.add_column("champion")
    table.add_column("why / error")
    for series, info in summary["series"].items():
        table.add_row(series, info["champion"] or "–", info["error"] or info["reason"] or "")
    console.print(table)
    for name, note in summary["published"].items():
        console.print(f"published [bold]{name}[/]: {note}")
    if summary.get("report"):
        console.print(f"report: {summary['report']}")
