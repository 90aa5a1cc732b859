"""The `candlecast` command line. Every command reads the same configuration (a TOML file and
overrides); errors print one line naming what was wrong (tracebacks only with --debug).

Shared pieces (the app, options, `build`) are in `cli/app.py`; command groups other than the
core ones below live in `cli/commands/`, imported at the end of this module.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from candlecast.cli.app import (
    OFFLINE_HINT,
    STATE,
    ConfigOption,
    CsvOption,
    ExchangeOption,
    HomeOption,
    SetOption,
    SourceOption,
    SymbolsOption,
    TimeframeOption,
    UrlOption,
    app,
    build,
    console,
    errors,
    quiet_prefect_console,
    quiet_runtime,
)
from candlecast.core.config import default_config_text
from candlecast.core.errors import CandlecastError, SourceError


@app.command()
def init(
    path: Annotated[Path, typer.Argument(help="Where to write the file.")] = Path(
        "candlecast.toml"
    ),
    force: Annotated[bool, typer.Option(help="Overwrite an existing file.")] = False,
) -> None:
    """Write a commented default configuration file."""
    if path.exists() and not force:
        raise CandlecastError(f"{path} exists; use --force to overwrite it")
    path.write_text(default_config_text(), encoding="utf-8")
    console.print(f"wrote {path}")


@app.command()
def run(
    config: ConfigOption = None,
    sets: SetOption = None,
    source: SourceOption = None,
    csv: CsvOption = None,
    symbols: SymbolsOption = None,
    timeframe: TimeframeOption = None,
    exchange: ExchangeOption = None,
    exchange_url: UrlOption = None,
    data_home: HomeOption = None,
    mode: Annotated[
        str, typer.Option(help="auto: retrain per policy; train: retrain all; forecast: reuse.")
    ] = "auto",
    check: Annotated[bool, typer.Option(help="Validate the configuration and stop.")] = False,
) -> None:
    """Run the forecast flow once: fetch, decompose, train/backtest, forecast, flag, publish."""
    cfg = build(
        config, sets, source=source, csv=csv, symbols=symbols, timeframe=timeframe,
        exchange=exchange, exchange_url=exchange_url, data_home=data_home,
    )  # fmt: skip
    if mode not in ("auto", "train", "forecast"):
        raise CandlecastError(f"--mode {mode!r} is unknown; allowed: auto, train, forecast")
    quiet_runtime()
    from candlecast.flows.runtime import resolve_plugins

    resolve_plugins(cfg).source.check(cfg.source)  # unreachable exchange: one line, at once
    if check:
        console.print("configuration is valid")
        return
    from candlecast.cli.display import run_with_progress

    quiet_prefect_console()
    summary = run_with_progress(cfg, mode)
    _print_summary(summary)
    if summary["status"] != "ok":
        raise typer.Exit(1)


def _print_summary(summary: dict[str, Any]) -> None:
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


@app.command()
def fetch(
    config: ConfigOption = None,
    sets: SetOption = None,
    source: SourceOption = None,
    csv: CsvOption = None,
    symbols: SymbolsOption = None,
    timeframe: TimeframeOption = None,
    exchange: ExchangeOption = None,
    exchange_url: UrlOption = None,
    data_home: HomeOption = None,
) -> None:
    """Fetch and store candles without training; prints what each series got."""
    quiet_runtime()
    cfg = build(
        config, sets, source=source, csv=csv, symbols=symbols, timeframe=timeframe,
        exchange=exchange, exchange_url=exchange_url, data_home=data_home,
    )  # fmt: skip
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


@app.command()
def plugins(
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """List every plugin: kind, name, version and where it came from."""
    quiet_runtime()
    from candlecast.plugins.manager import get_host

    rows = [reg.as_dict() for reg in get_host().registrations()]
    if as_json:
        typer.echo(json.dumps(rows, indent=1))
        return
    table = Table(title="candlecast plugins")
    for column in ("kind", "name", "version", "origin", "plugin", "description"):
        table.add_column(column)
    for row in rows:
        table.add_row(
            *(row[c] for c in ("kind", "name", "version", "origin", "plugin", "description"))
        )
    console.print(table)


def main() -> None:
    """Console-script entry point: one clear line per error, tracebacks only with --debug."""
    debug = "--debug" in sys.argv
    try:
        code = app(standalone_mode=False)  # click returns typer.Exit's code here, not raises
        if isinstance(code, int) and code:
            sys.exit(code)
    except CandlecastError as exc:
        if debug:
            raise
        offline = STATE.get("source") != "csv"  # the hint's way out is a CSV
        hint = f"; {OFFLINE_HINT}" if isinstance(exc, SourceError) and offline else ""
        errors.print(f"[red]error:[/] {exc}{hint}", highlight=False, soft_wrap=True)
        sys.exit(2)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        errors.print("aborted")
        sys.exit(130)
    except Exception as exc:
        import click

        if isinstance(exc, click.exceptions.ClickException):
            exc.show()
            sys.exit(exc.exit_code)
        if debug:
            raise
        errors.print(
            f"[red]error:[/] unexpected {type(exc).__name__}: {exc} (run with --debug for the traceback)",
            highlight=False,
            soft_wrap=True,
        )
        sys.exit(1)


# Command modules register themselves on `app` when imported.
import candlecast.cli.commands  # noqa: E402, F401

if __name__ == "__main__":  # pragma: no cover
    main()
