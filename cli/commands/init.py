"""`candlecast init`: write the commented default configuration file."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from candlecast.cli.app import console
from candlecast.core.config import default_config_text
from candlecast.core.errors import CandlecastError


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
