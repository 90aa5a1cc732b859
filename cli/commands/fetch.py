"""`candlecast fetch`: bring the candle store up to date without training."""

from __future__ import annotations

import typer
from rich.table import Table

from candlecast.cli.app import console, quiet_runtime
from candlecast.cli.options import SeriesOptions, series_options


@series_options
def fetch(options: SeriesOptions) -> None:
    """Fetch and store candles without training; prints what each series got."""
    quiet_runtime()
    cfg = options.build()
    from candlecast.cli.display import fetch_with_progress

    fetched = fetch_with_progress(cfg)
    table = Table(title="fetch")
    table.add_column("series", no_wrap=True)
    for column in ("new", "requests", "retries", "rejected", "gaps filled", "last (UTC)"):
        table.add_column(column)
    failed = False
    for key, item in fetched.items():
        if item.error is not None:
            failed = True
            table.add_row(str(key), *["–"] * 5, f"[red]{item.error}[/]")
            continue
        report = item.report
        gaps = f"{item.gaps_filled}" + (f" ({item.long_gaps} too long)" if item.long_gaps else "")
        if item.gap_error:
            gaps = "[yellow]a run would stop[/]"
            console.print(f"{key}: {item.gap_error}")
        table.add_row(
            str(key),
            str(report.new_candles),
            str(report.requests),
            str(report.retries),
            str(report.rejected.total),
            gaps,
            f"{report.last:%Y-%m-%d %H:%M}" if report.last is not None else "–",
        )
        if report.rejected:
            console.print(f"{key}: {report.rejected.summary()}")
    console.print(table)
    if failed:
        raise typer.Exit(1)
