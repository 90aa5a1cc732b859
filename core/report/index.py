"""The index page: every run, newest first, with its status, series and champions, linking
each run's report."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from html import escape
from typing import Any

import pandas as pd

from candlecast.core.report.assets import STYLE
from candlecast.core.report.summary import champions_text
from candlecast.core.report.tables import table
from candlecast.core.report.timefmt import show, utc
from candlecast.core.results import RunResults


@dataclass(frozen=True)
class SeriesEntry:
    series: str
    champion: str | None = None
    error: str | None = None


@dataclass(frozen=True)
class IndexEntry:
    """One run on the index page; `report` is the report's file name beside the index (None:
    no report file)."""

    run_id: str
    started: pd.Timestamp
    status: str
    finished: pd.Timestamp | None = None
    series: tuple[SeriesEntry, ...] = field(default_factory=tuple)
    report: str | None = None


def entry_from_results(results: RunResults, report: str | None = None) -> IndexEntry:
    return IndexEntry(
        run_id=results.run_id,
        started=results.started,
        finished=results.finished,
        status=results.status,
        series=tuple(SeriesEntry(s.id, champions_text(s), s.error) for s in results.series),
        report=report,
    )


def _stored_champions(series: Mapping[str, Any]) -> str | None:
    """What a stored run summary says of a series' champions (`close: naive, ...`)."""
    targets = series.get("targets")
    if not targets:
        return series.get("champion")  # a run recorded before several targets
    return ", ".join(
        f"{name}: {'failed' if t.get('error') else t.get('champion') or '–'}"
        for name, t in targets.items()
    )


def entry_from_row(row: Mapping[str, Any], report: str | None = None) -> IndexEntry:
    """An entry from a `runs` table row (its `summary` JSON as text or as a dict)."""
    summary = row.get("summary") or {}
    if isinstance(summary, str):
        summary = json.loads(summary)
    series = tuple(
        SeriesEntry(s.get("id", "?"), _stored_champions(s), s.get("error"))
        for s in summary.get("series", [])
    )
    started = utc(row["started"])
    return IndexEntry(
        run_id=str(row["run_id"]),
        started=started if started is not None else pd.Timestamp(0, tz="UTC"),
        finished=utc(row.get("finished")),
        status=str(row.get("status") or "?"),
        series=series,
        report=report,
    )


def _champions(entry: IndexEntry) -> str:
    lines = []
    for s in entry.series:
        outcome = (
            f'<span class="badge failed">failed</span> {escape(s.error or "")}'
            if s.error
            else escape(s.champion or "–")
        )
        lines.append(f"{escape(s.series)}: {outcome}")
    return "<td>" + ("<br>".join(lines) or "–") + "</td>"


def render_index(runs: Iterable[IndexEntry], title: str = "candlecast runs") -> str:
    """The index page of `runs` (newest first, whatever order they come in)."""
    ordered: Sequence[IndexEntry] = sorted(runs, key=lambda e: (e.started, e.run_id), reverse=True)
    rows = []
    for entry in ordered:
        name = escape(entry.run_id)
        link = f'<a href="{escape(entry.report)}">{name}</a>' if entry.report else name
        rows.append(
            [
                f"<td>{link}</td>",
                f"<td>{show(entry.started)}</td>",
                f'<td><span class="badge {escape(entry.status)}">{escape(entry.status)}</span></td>',
                _champions(entry),
            ]
        )
    body = (
        table(["run", "started", "status", "series: champions"], rows)
        if rows
        else '<p class="muted">No runs recorded yet.</p>'
    )
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        f"<title>{escape(title)}</title><style>{STYLE}</style></head><body>"
        f'<header class="page"><h1>{escape(title)}</h1>'
        f'<div class="muted">{len(rows)} run(s), newest first; times in UTC</div></header>'
        f'<main><section class="facts">{body}</section></main></body></html>\n'
    )
