"""Report files: `<reports_dir>/<run_id>.html` per run and `index.html`, each written
atomically (a reader sees the old file or the new one, never half). `reports_dir` is a local
folder or a remote `Location` (an fsspec URL such as `s3://bucket/reports`)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path
from typing import TypeAlias

from candlecast.core.errors import ConfigError
from candlecast.core.report.index import IndexEntry, render_index
from candlecast.core.storage.atomic import write_atomic
from candlecast.core.storage.location import Location

Folder: TypeAlias = Path | Location

RUN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")
INDEX = "index.html"


def report_name(run_id: str) -> str:
    """`<run_id>.html`; a run id that is not a plain file name is refused."""
    if not isinstance(run_id, str) or not RUN_ID.fullmatch(run_id):
        raise ConfigError(
            f"run id {run_id!r} cannot name a report file: use letters, digits, '_', '.' and "
            f"'-' (starting with a letter or digit, at most 128 characters)"
        )
    return f"{run_id}.html"


def _in(folder: Folder, name: str) -> Path | Location:
    """`<folder>/<name>`: a Path when the folder is local."""
    location = Location.of(folder)
    return location.path / name if location.is_local else location / name


def write_html(path: Path | Location, html: str) -> Path | Location:
    """`html` at `path`, atomically."""
    if isinstance(path, Location) and not path.is_local:
        return path.write_text(html)
    return write_atomic(Path(path), lambda tmp: tmp.write_text(html, encoding="utf-8"))


def write_run_report(reports_dir: Folder, run_id: str, html: str) -> Path | Location:
    """A run's report at `<reports_dir>/<run_id>.html`."""
    return write_html(_in(reports_dir, report_name(run_id)), html)


def linked(entries: Iterable[IndexEntry], reports_dir: Folder) -> list[IndexEntry]:
    """`entries` with `report` set where the run's report file exists in `reports_dir`."""
    out = []
    for entry in entries:
        try:
            name = report_name(entry.run_id)
        except ConfigError:
            name = None
        exists = name is not None and _in(reports_dir, name).is_file()
        out.append(replace(entry, report=name if exists else None))
    return out


def write_index(reports_dir: Folder, entries: Iterable[IndexEntry]) -> Path | Location:
    """`<reports_dir>/index.html` listing `entries`, linking the reports that exist."""
    return write_html(_in(reports_dir, INDEX), render_index(linked(entries, reports_dir)))
