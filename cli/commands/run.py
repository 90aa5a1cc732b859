"""`candlecast run`: one run of the forecast flow, with live progress and a summary table."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table

from candlecast.cli.app import console, quiet_prefect_console, quiet_runtime
from candlecast.cli.options import SeriesOptions, series_options
from candlecast.core.errors import CandlecastError

EXIT_PARTIAL = 1  # the run did part of its work: the list under the table says what failed


@series_options
def run(
    options: SeriesOptions,
    mode: Annotated[
        str, typer.Option(help="auto: retrain per policy; train: retrain all; forecast: reuse.")
    ] = "auto",
    check: Annotated[
        bool,
        typer.Option(
            help="Validate the configuration and its plugins, build every configured cell "
            "(no training), warn about what the backtest cannot give, and stop."
        ),
    ] = False,
) -> None:
    """Run the forecast flow once: fetch, decompose, train/backtest, forecast, flag, publish."""
    cfg = options.build()
    if mode not in ("auto", "train", "forecast"):
        raise CandlecastError(f"--mode {mode!r} is unknown; allowed: auto, train, forecast")
    quiet_runtime()
    from candlecast.core.pipeline.plan import SeriesPlan
    from candlecast.flows.runtime import resolve_plugins

    plan = SeriesPlan.from_config(cfg)  # a backtest layout that cannot work: one line, at once
    plugins = resolve_plugins(cfg)
    plugins.source.check(cfg.source)  # unreachable exchange: one line, at once
    if check:
        check_run(cfg, plan, plugins.cells)
        return
    from candlecast.cli.display import run_with_progress

    quiet_prefect_console()
    summary = run_with_progress(cfg, mode)
    print_summary(summary)
    if summary["status"] != "ok":  # a run in which every series failed raised: exit 2
        raise typer.Exit(EXIT_PARTIAL)


def check_run(cfg: Any, plan: Any, cells: dict[str, Any]) -> None:
    """`--check` past the configuration: every configured cell builds its network at the
    configured sizes (a broken cell plugin fails here, not in a scheduled run), and what the
    backtest cannot give is a warning."""
    from candlecast.core.models.probe import probe_cells
    from candlecast.core.pipeline.preflight import interval_warnings

    built, failed = probe_cells(cells, cfg.model, cfg.source.timeframe)
    if failed:
        raise CandlecastError(
            f"{len(failed)} of {len(cfg.model.cells)} configured cell(s) cannot build their "
            "network: " + "; ".join(failed.values())
        )
    console.print("configuration is valid")
    shown = ", ".join(f"{cell} ({weights:,} weights)" for cell, weights in built.items())
    console.print(f"cells built (no training): {shown}", highlight=False, soft_wrap=True)
    for warning in interval_warnings(cfg, plan):
        console.print(f"[yellow]warning:[/] {warning}", highlight=False, soft_wrap=True)


def print_summary(summary: dict[str, Any]) -> None:
    table = Table(title=f"run {summary['run_id']} — {summary['status']}")
    for column in ("series", "target", "champion", "why / error"):
        table.add_column(column)
    for series, info in summary["series"].items():
        if info["error"] or not info["targets"]:
            table.add_row(series, "–", "–", f"[red]{info['error']}[/]")
            continue
        for target, forecast in info["targets"].items():
            why = forecast["error"] or forecast["reason"] or ""
            table.add_row(series, target, forecast["champion"] or "–", why)
    console.print(table)
    for name, note in summary["published"].items():
        console.print(f"published [bold]{name}[/]: {note}")
    if summary.get("report"):
        console.print(f"report: {summary['report']}")
    problems = summary.get("problems") or []
    if problems:
        console.print(f"[yellow]{len(problems)} thing(s) failed in this run:[/]")
        for problem in problems:
            console.print(f"  - {problem}", highlight=False, soft_wrap=True)
