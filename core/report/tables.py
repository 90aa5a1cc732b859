"""The report's tables as HTML fragments: the leaderboard, the champion's forecast, the flags,
the data-quality notes and the run's facts. Every text is escaped."""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from html import escape
from typing import Any

import pandas as pd

from candlecast.core.report.timefmt import show
from candlecast.core.results import RunResults, SeriesOutcome, TargetOutcome
from candlecast.core.storage.engine import redact_url

# (leaderboard column, header, significant digits or None for an integer)
LEADERBOARD_COLUMNS: tuple[tuple[str, str, int | None], ...] = (
    ("mase", "MASE", 4),
    ("mae", "MAE", 5),
    ("mae_rel", "MAE / naive", 4),
    ("rmse", "RMSE", 5),
    ("smape", "sMAPE %", 4),
    ("directional_accuracy", "direction", 3),
    ("coverage_80", "coverage 80%", 3),
    ("winkler_80", "interval score 80%", 4),
    ("coverage_95", "coverage 95%", 3),
    ("winkler_95", "interval score 95%", 4),
    ("n", "n", None),
)
QUALITY_LABELS = {
    "gaps": "gaps",
    "fetch": "fetch",
    "rejected": "rejected candles",
    "anomalies": "anomaly detection",
    "decomposition": "decomposition",
}


def number(value: Any, digits: int | None = 4) -> str:
    """A number for a table cell; an en dash when missing or not finite."""
    if value is None or isinstance(value, str):
        return escape(value or "–")
    try:
        number_ = float(value)
    except (TypeError, ValueError):
        return escape(str(value))
    if not math.isfinite(number_):
        return "–"
    if digits is None:
        return f"{round(number_):,d}"
    if abs(number_) >= 10**digits:
        return f"{number_:,.0f}"
    return f"{number_:.{digits}g}"


def table(
    headers: Sequence[str], rows: Iterable[Sequence[str]], classes: Sequence[str] = ()
) -> str:
    """An HTML table; `rows` hold ready HTML (escape text first), `classes` per row."""
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = []
    for i, row in enumerate(rows):
        css = f' class="{classes[i]}"' if i < len(classes) and classes[i] else ""
        body.append(f"<tr{css}>" + "".join(row) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _num(value: Any, digits: int | None = 4) -> str:
    return f'<td class="num">{number(value, digits)}</td>'


def _text(value: Any) -> str:
    return f"<td>{escape('–' if value is None else str(value))}</td>"


def leaderboard_table(outcome: TargetOutcome) -> str:
    """Every model's backtest scores on one target, best MASE first, the champion highlighted
    and the baselines marked. Coverage and interval scores are sequential: each origin's band
    calibrated only on the origins before it, as a scheduled run publishes them."""
    board = outcome.leaderboard
    if board is None or board.empty:
        return f'<p class="muted">No backtest leaderboard for {escape(outcome.target)}.</p>'
    board = board.reset_index() if "model" not in board.columns else board
    if "mase" in board.columns:
        board = board.sort_values("mase", kind="stable", na_position="last")
    columns = [c for c in LEADERBOARD_COLUMNS if c[0] in board.columns]
    rows, classes = [], []
    for rank, record in enumerate(board.to_dict("records"), start=1):
        model = str(record["model"])
        family = str(record.get("family") or "")
        champion = model == outcome.champion
        label = escape(model) + (
            ' <span class="badge champion">champion</span>' if champion else ""
        )
        rows.append(
            [f'<td class="num">{rank}</td>', f"<td>{label}</td>", _text(family)]
            + [_num(record.get(column), digits) for column, _, digits in columns]
        )
        learned = family in ("network", "combination")
        classes.append("champion" if champion else "" if learned else "baseline")
    headers = ["#", "model", "family", *(header for _, header, _ in columns)]
    return table(headers, rows, classes)


def forecast_table(outcome: TargetOutcome) -> str:
    """The champion's forecast of one target, step by step, with its intervals."""
    frame = outcome.champion_forecast()
    if frame is None or frame.empty:
        return '<p class="muted">No published forecast.</p>'
    rows = []
    for record in frame.to_dict("records"):
        rows.append(
            [
                _num(record["step"], None),
                _text(show(record["target_time"])),
                _num(record["value"], 7),
                _text(_band(record, 80)),
                _text(_band(record, 95)),
            ]
        )
    return table(["step", "time", "forecast", "80% interval", "95% interval"], rows)


def _band(record: dict[str, Any], pct: int) -> str:
    lower, upper = record.get(f"lower_{pct}"), record.get(f"upper_{pct}")
    if lower is None or upper is None or pd.isna(lower) or pd.isna(upper):
        return "–"
    return f"{number(lower, 7)} – {number(upper, 7)}"


def realised_table(outcome: TargetOutcome) -> str:
    """How the bands earlier runs published for this target did once the candles closed."""
    table_ = outcome.realised
    if table_ is None or table_.empty:
        return (
            '<p class="muted">No published forecast of this target has come due yet: the '
            "realised coverage shows from the next runs on.</p>"
        )
    rows = [
        [
            _text(f"{level:.0%}"),
            _num(row["n"], None),
            _num(row["coverage"], 3),
            _num(row["below"], 3),
            _num(row["above"], 3),
            _num(row["mean_width"], 5),
        ]
        for level, row in table_.iterrows()
    ]
    return table(["band", "steps due", "covered", "below", "above", "mean width"], rows)


def flags_table(outcome: SeriesOutcome) -> str:
    """The anomaly flags this run raised, newest first."""
    if not outcome.flags:
        return '<p class="muted">No anomaly flags in this run.</p>'
    flags = sorted(outcome.flags, key=lambda f: f.timestamp, reverse=True)
    rows = [
        [
            _text(show(f.timestamp)),
            _text(f.kind),
            _text(f.detector),
            _text(f.severity),
            _num(f.score, 3),
            _num(f.threshold, 3),
            _text(f.reason),
        ]
        for f in flags
    ]
    return table(["time", "kind", "detector", "severity", "score", "threshold", "reason"], rows)


def quality_items(outcome: SeriesOutcome) -> list[tuple[str, str]]:
    """(label, text) of every data-quality note: gaps, fetch and rejected candles, failures,
    and what happened to each model (trained, reused, failed)."""
    items = []
    for key, value in outcome.quality.items():
        if isinstance(value, list | tuple):
            value = "; ".join(str(v) for v in value)
        if value in (None, ""):
            continue
        items.append((QUALITY_LABELS.get(key, key.replace("_", " ")), str(value)))
    for target in outcome.targets.values():
        if target.error:
            items.append((f"{target.target}", f"failed: {target.error}"))
        items += [(f"{target.target} intervals", note) for note in target.notes]
        for name, model in sorted(target.models.items()):
            note = model.error or model.note
            if note:
                label = f"{target.target} model {name}"
                items.append((label, ("failed: " if model.error else "") + note))
    return items


def quality_notes(outcome: SeriesOutcome) -> str:
    items = quality_items(outcome)
    if not items:
        return '<p class="muted">No data-quality notes.</p>'
    body = "".join(f"<dt>{escape(k)}</dt><dd>{escape(v)}</dd>" for k, v in items)
    return f'<dl class="notes">{body}</dl>'


def redacted(config: Any) -> Any:
    """`config` with the password of every `*_url` value replaced by `***` (the flow stores
    configs redacted already; a report never relies on that)."""
    if isinstance(config, dict):
        return {
            k: redact_url(v) if str(k).endswith("url") and isinstance(v, str) else redacted(v)
            for k, v in config.items()
        }
    if isinstance(config, list):
        return [redacted(v) for v in config]
    return config


def _duration(results: RunResults) -> str:
    if results.finished is None:
        return "–"
    return f"{(results.finished - results.started).total_seconds():.1f} s"


def facts_section(results: RunResults, plotly_version: str) -> str:
    """Run id, status, times, config hash, library versions, timings and the redacted config."""
    facts = [
        ("run id", results.run_id),
        ("status", results.status),
        ("started", show(results.started)),
        ("finished", show(results.finished)),
        ("duration", _duration(results)),
        ("config hash", results.config_hash),
        ("series", ", ".join(s.id for s in results.series) or "–"),
    ]
    timings = [(f"timing: {k}", f"{v:g} s") for k, v in sorted(results.timings.items())]
    for outcome in results.series:
        timings += [
            (f"timing: {outcome.id} {k}", f"{v:g} s") for k, v in sorted(outcome.timings.items())
        ]
    versions = [*sorted(results.versions.items()), ("plotly (report)", plotly_version)]
    rows = "".join(f"<dt>{escape(k)}</dt><dd>{escape(str(v))}</dd>" for k, v in facts + timings)
    version_rows = [[_text(name), _text(version)] for name, version in versions]
    config = json.dumps(redacted(results.config), indent=2, sort_keys=True, default=str)
    return (
        '<section class="facts" id="run-facts"><h2>Run facts</h2>'
        f'<dl class="notes">{rows}</dl>'
        "<h3>Library versions</h3>"
        + table(["library", "version"], version_rows)
        + "<h3>Configuration (passwords redacted)</h3>"
        f"<details><summary>show the configuration</summary><pre>{escape(config)}</pre></details>"
        "</section>"
    )
