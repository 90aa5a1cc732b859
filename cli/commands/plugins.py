"""`candlecast plugins`: every registered plugin, with its kind, version and origin, and the
loaded plugins that registered nothing, with the likely reason."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table

from candlecast.cli.app import console, quiet_runtime

COLUMNS = ("kind", "name", "version", "origin", "plugin", "description")


def plugins(
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """List every plugin: kind, name, version and where it came from; and any installed plugin
    that registered nothing, with why."""
    quiet_runtime()
    from candlecast.plugins.manager import get_host

    host = get_host()
    rows = [reg.as_dict() for reg in host.registrations()]
    empty = host.registered_nothing()
    if as_json:
        rows += [
            {"kind": None, "name": None, "plugin": name, "version": version, "origin": origin}
            | {"description": "", "problem": f"registered nothing: {why}"}
            for name, (version, origin, why) in empty.items()
        ]
        typer.echo(json.dumps(rows, indent=1))
        return
    table = Table(title="candlecast plugins")
    for column in COLUMNS:
        table.add_column(column)
    for row in rows:
        table.add_row(*(row[c] for c in COLUMNS))
    console.print(table)
    for name, (version, origin, why) in empty.items():
        console.print(
            f"[yellow]warning:[/] plugin {name!r} {version} ({origin}) registered nothing: {why}",
            highlight=False,
            soft_wrap=True,
        )
