"""What every `candlecast` command shares: the Typer app, consoles, common options, and
building the configuration from a file, named options and `--set` overrides.

Commands live in `cli/main.py` and `cli/commands/*.py` (one module per command group);
`cli/main.py` imports them all and owns `main()`.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before anything imports TensorFlow

from candlecast.core.config import Config, load_config, parse_override

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
    "offline, run the same flow on a candle CSV: `candlecast run --csv FILE` "
    '(or `make run ARGS="--csv FILE"`), or replay one as an exchange with '
    "`candlecast sandbox-exchange --csv FILE` and `--exchange-url http://127.0.0.1:8765`"
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
    from candlecast.flows.secret_refs import resolve_secrets  # secret:<block> references

    built = resolve_secrets(load_config(config, overrides))
    STATE["source"] = built.source.name  # main() names the offline way for exchanges only
    return built


def quiet_runtime() -> None:
    """Keep the terminal for candlecast's own output (--verbose shows everything). Call it
    before loading plugins: a cell plugin may import TensorFlow."""
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")  # no telemetry calls
    # the temporary local API starts within 20 s on an idle machine, not always on a busy one
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "90")
    if STATE["verbose"]:
        return
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    os.environ.setdefault("PREFECT_LOGGING_LOGGERS_PREFECT_FLOW_RUNS_LEVEL", "WARNING")
    os.environ.setdefault("PREFECT_LOGGING_LOGGERS_PREFECT_TASK_RUNS_LEVEL", "WARNING")
    if "tensorflow" in sys.modules:
        return
    # TensorFlow's C++ start-up lines ignore TF_CPP_MIN_LOG_LEVEL: hide them unless the import
    # fails, in which case they are shown.
    import tempfile

    with tempfile.TemporaryFile() as sink:
        saved = os.dup(2)
        os.dup2(sink.fileno(), 2)
        try:
            import tensorflow  # noqa: F401  (imported here, quietly, for what follows)
        except Exception:
            os.dup2(saved, 2)
            sink.seek(0)
            sys.stderr.write(sink.read().decode(errors="replace"))
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)


class _FailuresAreTheCliJob(logging.Filter):
    """Prefect's console without -v / --debug: its warnings, not its errors and tracebacks. The
    CLI reports a failure itself, once (the summary table, or one `error:` line)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno < logging.ERROR and not record.exc_info


def quiet_prefect_console() -> None:
    """Call before running a flow: without -v / --debug, Prefect's console handler drops
    ERROR records and tracebacks (its API handler, the Prefect UI's logs, keeps everything)."""
    if STATE["verbose"] or STATE["debug"]:
        return
    import prefect.main  # noqa: F401  (configures Prefect's logging: the console handler)

    for handler in logging.getLogger().handlers:
        if type(handler).__name__ == "PrefectConsoleHandler" and not any(
            isinstance(f, _FailuresAreTheCliJob) for f in handler.filters
        ):
            handler.addFilter(_FailuresAreTheCliJob())


@app.callback()
def _root(
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks.")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Show Prefect logs.")] = False,
) -> None:
    STATE["debug"] = debug
    STATE["verbose"] = verbose
