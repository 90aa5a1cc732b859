"""`candlecast fetch`: bring the candle store up to date without training."""

from __future__ import annotations

import typer
from rich.markup import escape
from rich.table import Table

from candlecast.cli.app import console, quiet_runtime
from candlecast.cli.options import SeriesOptions, series_options
from candlecast.core.market.fetch_report import FetchReport


@series_options
def fetch(options: SeriesOptions) -> None:
    """Fetch and store candles without training; prints what each series got."""
    quiet_runtime()
    cfg = options.build()
    from candlecast.cli.display import fetch_with_progress

    fetched = fetch_with_progress(cfg)
    table = Table(title="fetch")
    table.add_column("series", no_wrap=True)
    for column in (
        "new",
        "corrected",
        "requests",
        "retries",
        "rejected",
        "gaps filled",
        "last (UTC)",
    ):
        table.add_column(column)
    failed = False
    for key, item in fetched.items():
        report = item.report
        if item.error is not None:
            failed = True
            console.print(f"{key}: [red]failed:[/] {escape(item.error)}", soft_wrap=True)
            if report is None:  # nothing was fetched: the source stopped before its first page
                table.add_row(str(key), *["–"] * 6, "[red]failed[/]")
                continue
            gaps, last = "–", "[red]failed[/]"  # the row counts what it stored before that
        else:
            gaps = f"{item.gaps_filled}" + (
                f" ({item.long_gaps} too long)" if item.long_gaps else ""
            )
            if item.gap_error:
                gaps = "[yellow]a run would stop[/]"
                console.print(f"{key}: {item.gap_error}")
            last = f"{report.last:%Y-%m-%d %H:%M}" if report.last is not None else "–"
        table.add_row(
            str(key),
            str(report.new_candles),
            str(report.corrected),
            str(report.requests),
            str(report.retries),
            str(report.rejected.total),
            gaps,
            last,
        )
        if report.rejected:
            console.print(
                f"{key}: {escape(report.rejected.summary() + _example(report))}", soft_wrap=True
            )
        if report.corrected:
            shown = ", ".join(f"{t:%Y-%m-%d %H:%M}" for t in report.corrected_at)
            more = ", ..." if report.corrected > len(report.corrected_at) else ""
            console.print(
                f"{key}: {report.corrected} stored candle(s) corrected with the source's newer "
                f"values ({shown}{more} UTC)",
                soft_wrap=True,
            )
        for note in report.notes:
            console.print(f"{key}: {escape(note)}", soft_wrap=True)
    console.print(table)
    if failed:
        raise typer.Exit(1)


def _example(report: FetchReport) -> str:
    """The first rejected candle of the first reason, as `; e.g. 2017-08-17 04:00 open ...`."""
    for reason, rows in report.rejected.examples.items():
        if rows:
            row = rows[0]
            values = " ".join(
                f"{c} {row[c]:.10g}" for c in ("open", "high", "low", "close", "volume")
            )
            return f"; e.g. {reason} at {row['timestamp']:%Y-%m-%d %H:%M}: {values}"
    return ""
