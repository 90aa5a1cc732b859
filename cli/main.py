"""The `candlecast` command line: every command registered on the app, explicitly, and
`main()`. Errors print one line naming what was wrong (tracebacks only with --debug).

Exit codes: 0 done; 1 a run that did part of its work (`partial`: a series, target, model,
detector or publisher failed, or a registered model had to be rejected; the summary lists what),
a fetch that failed for a series, or an unexpected error; 2 bad input or a run that could not go
on (configuration, plugins, database, locks, every series failed; one `error:` line);
130 interrupted.
"""

from __future__ import annotations

import sys

import typer

from candlecast.cli.app import OFFLINE_HINT, RATE_LIMIT_HINT, STATE, app, errors
from candlecast.cli.commands.backtest import backtest
from candlecast.cli.commands.candles import candles_app
from candlecast.cli.commands.fetch import fetch
from candlecast.cli.commands.init import init
from candlecast.cli.commands.plugins import plugins
from candlecast.cli.commands.report import report
from candlecast.cli.commands.run import run
from candlecast.cli.commands.sandbox import sandbox_exchange
from candlecast.cli.commands.serve import serve
from candlecast.core.errors import CandlecastError, SourceError

COMMANDS = (
    ("init", init),
    ("run", run),
    ("fetch", fetch),
    ("backtest", backtest),
    ("report", report),
    ("plugins", plugins),
    ("serve", serve),
    ("sandbox-exchange", sandbox_exchange),
)
for _name, _command in COMMANDS:
    app.command(_name)(_command)
GROUPS = (("candles", candles_app),)  # commands with subcommands: candlecast candles list
for _name, _group in GROUPS:
    app.add_typer(_group, name=_name)


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
        hint = ""
        if isinstance(exc, SourceError) and STATE.get("source") != "csv":
            # an exchange that cannot be reached: the offline way; one that limits requests:
            # later (going offline would not help)
            hint = f"; {RATE_LIMIT_HINT if exc.rate_limited else OFFLINE_HINT}"
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


if __name__ == "__main__":  # pragma: no cover
    main()
