"""The `candlecast` command line. Every command reads the same configuration (a TOML file and
overrides); errors print one line naming what was wrong (tracebacks only with --debug)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before anything imports TensorFlow

from candlecast.core.config import (
    Config,
    default_config_text,
    load_config,
    parse_override,
)
from candlecast.core.errors import CandlecastError, SourceError

app = typer.Typer(
    name="candlecast",
    help="Scheduled forecasting of exchange candles with pluggable recurrent networks.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console()
errors = Console(stderr=True)
STATE: dict[str, Any] = {"debug": False, "verbose": False}

OFFLINE_HINT = (
    "no exchange reachable? run offline: `candlecast run --source csv --csv FILE` "
    "(a candle CSV), or serve one with `candlecast sandbox-exchange --csv FILE` and pass "
    "`--exchange-url http://127.0.0.1:8765`"
)

ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="TOML config file (candlecast init writes one)."),
]
SetOption = Annotated[
    list[str] | None,
    typer.Option("--set", help="Override any setting: --set model.window=72 (repeatable)."),
]
SourceOption = Annotated[str | None, typer.Option(help="Source plugin: ccxt or csv.")]
CsvOption = Annotated[Path | None, typer.Option("--csv", help="Candle CSV (implies --source csv).")]
SymbolsOption = Annotated[
    str | None, typer.Option(help="Comma-separated symbols, e.g. BTC/USDT,ETH/USDT.")
]
TimeframeOption = Annotated[str | None, typer.Option(help="Candle timeframe, e.g. 1h.")]
ExchangeOption = Annotated[str | None, typer.Option(help="ccxt exchange id, e.g. binance.")]
UrlOption = Annotated[
    str | None, typer.Option("--exchange-url", help="Override the exchange REST base URL.")
]
HomeOption = Annotated[
    Path | None, typer.Option("--data-home", help="Folder for the database, models, outputs.")
]


def build(
    config: Path | None,
    sets: list[str] | None = None,
    *,
    source: str | None = None,
    csv: Path | None = None,
    symbols: str | None = None,
    timeframe: str | None = None,
    exchange: str | None = None,
    exchange_url: str | None = None,
    data_home: Path | None = None,
) -> Config:
    """The configuration from the file, the named options and `--set` overrides (last wins)."""
    overrides: dict[tuple[str, ...], Any] = {}
    if csv is not None:
        overrides[("source", "name")] = "csv"
        overrides[("source", "path")] = str(csv.resolve())
    named = {
        ("source", "name"): source,
        ("source", "symbols"): [s.strip() for s in symbols.split(",")] if symbols else None,
        ("source", "timeframe"): timeframe,
        ("source", "exchange"): exchange,
        ("source", "url"): exchange_url,
        ("storage", "data_home"): str(data_home) if data_home else None,
    }
    overrides |= {k: v for k, v in named.items() if v is not None}
    for text in sets or []:
        path, value = parse_override(text)
        overrides[tuple(path)] = value
    if config is None and Path("candlecast.toml").exists():
        config = Path("candlecast.toml")
    return load_config(config, overrides)


def _quiet_runtime() -> None:
    """Keep the terminal for candlecast's own output (--verbose shows everything)."""
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")  # no network here
    if STATE["verbose"]:
        return
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    os.environ.setdefault("PREFECT_LOGGING_LOGGERS_PREFECT_FLOW_RUNS_LEVEL", "WARNING")
    os.environ.setdefault("PREFECT_LOGGING_LOGGERS_PREFECT_TASK_RUNS_LEVEL", "WARNING")
    _import_tensorflow_quietly()


def _import_tensorflow_quietly() -> None:
    """TensorFlow's C++ start-up lines ignore TF_CPP_MIN_LOG_LEVEL; hide them unless the
    import fails, in which case they are shown."""
    import tempfile

    with tempfile.TemporaryFile() as sink:
        saved = os.dup(2)
        os.dup2(sink.fileno(), 2)
        try:
            import tensorflow  # noqa: F401
        except Exception:
            os.dup2(saved, 2)
            sink.seek(0)
            sys.stderr.write(sink.read().decode(errors="replace"))
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)


@app.callback()
def _root(
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks.")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Show Prefect logs.")] = False,
) -> None:
    STATE["debug"] = debug
    STATE["verbose"] = verbose


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
    if check:
        from candlecast.flows.runtime import resolve_plugins

        resolve_plugins(cfg)
        console.print("configuration is valid")
        return
    _quiet_runtime()
    from candlecast.flows.display import run_with_progress

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
    cfg = build(
        config, sets, source=source, csv=csv, symbols=symbols, timeframe=timeframe,
        exchange=exchange, exchange_url=exchange_url, data_home=data_home,
    )  # fmt: skip
    from candlecast.flows.display import fetch_with_progress

    reports = fetch_with_progress(cfg)
    table = Table(title="fetch")
    for column in ("series", "new candles", "requests", "retries", "rejected", "last candle"):
        table.add_column(column)
    failed = False
    for key, report in reports.items():
        if isinstance(report, str):
            failed = True
            table.add_row(str(key), "–", "–", "–", "–", f"[red]{report}[/]")
            continue
        table.add_row(
            str(key),
            str(report.new_candles),
            str(report.requests),
            str(report.retries),
            str(report.rejected.total),
            str(report.last) if report.last is not None else "–",
        )
    console.print(table)
    if failed:
        raise typer.Exit(1)


@app.command()
def plugins(
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """List every plugin: kind, name, version and where it came from."""
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
        app(standalone_mode=False)
    except CandlecastError as exc:
        if debug:
            raise
        errors.print(f"[red]error:[/] {exc}", highlight=False, soft_wrap=True)
        if isinstance(exc, SourceError):
            errors.print(OFFLINE_HINT, highlight=False, soft_wrap=True)
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


if __name__ == "__main__":  # pragma: no cover
    main()
