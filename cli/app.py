"""What every `candlecast` command shares: the Typer app, its consoles, the global flags
(`--debug`, `--verbose`) and keeping library chatter out of the terminal.

Commands live in `cli/commands/` (one module each) and are registered on `app` explicitly by
`cli/main.py`, which owns `main()`; the options several commands share are in `cli/options.py`.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import Annotated, Any

import typer
from rich.console import Console

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before anything imports TensorFlow


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
RATE_LIMIT_HINT = (
    "the exchange answered but kept limiting requests: wait a few minutes and run again "
    "(or raise source.retries)"
)


LIBRARY_LOGGERS = ("tensorflow", "absl", "keras", "h5py", "numexpr", "statsmodels", "py.warnings")
"""Libraries whose warnings (TensorFlow's retracing notices, deprecations) stay out of a user's
terminal unless --debug: candlecast reports what matters itself."""


def quiet_runtime() -> None:
    """Keep the terminal for candlecast's own output: Prefect's console shows warnings only
    (--verbose: everything), library chatter shows only with --debug. What reaches the Prefect
    API, the run logs of the Prefect UI, is not reduced: a served run's INFO logs are there
    (PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL quiets the console handler, not the loggers; run
    processes inherit it). Call it before loading plugins: a cell plugin may import
    TensorFlow."""
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")  # no telemetry calls
    # the temporary local API starts within 20 s on an idle machine, not always on a busy one
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "90")
    if not STATE["debug"]:
        logging.captureWarnings(True)  # Python warnings become `py.warnings` records
        for name in LIBRARY_LOGGERS:
            logging.getLogger(name).setLevel(logging.ERROR)
    if STATE["verbose"]:
        return
    os.environ.setdefault("PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL", "WARNING")
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
