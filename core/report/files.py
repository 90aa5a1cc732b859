"""Report files on disk: `<reports_dir>/<run_id>.html` per run and `index.html`, each written
atomically (a reader sees the old file or the new one, never half)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path

from candlecast.core.errors import ConfigError
from candlecast.core.report.index import IndexEntry, render_index
from candlecast.core.storage.atomic import write_atomic

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


def write_html(path: Path, html: str) -> Path:
    """`html` at `path`, atomically."""
    return write_atomic(Path(path), lambda tmp: tmp.write_text(html, encoding="utf-8"))


def write_run_report(reports_dir: Path, run_id: str, html: str) -> Path:
    """A run's report at `<reports_dir>/<run_id>.html`."""
    return write_html(Path(reports_dir) / report_name(run_id), html)


def linked(entries: Iterable[IndexEntry], reports_dir: Path) -> list[IndexEntry]:
    """`entries` with `report` set where the run's report file exists in `reports_dir`."""
    out = []
    for entry in entries:
        try:
            name = report_name(entry.run_id)
        except ConfigError:
            name = None
        exists = name is not None and (Path(reports_dir) / name).is_file()
        out.append(replace(entry, report=name if exists else None))
    return out


def write_index(reports_dir: Path, entries: Iterable[IndexEntry]) -> Path:
    """`<reports_dir>/index.html` listing `entries`, linking the reports that exist."""
    return write_html(Path(reports_dir) / INDEX, render_index(linked(entries, reports_dir)))
