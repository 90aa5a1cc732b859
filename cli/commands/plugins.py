"""`candlecast plugins`: every registered plugin, with its kind, version and origin."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table

from candlecast.cli.app import console, quiet_runtime


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
