"""One run's report as one self-contained HTML page (plotly.js inline, no network needed):
per series and target (close, volume, ...) the recent history with the forecasts, the
champion's intervals and the leaderboard; per series the flags, the decomposition and the
data-quality notes; then the run's facts."""

from __future__ import annotations

from html import escape

from candlecast.core.report.assets import STYLE, plotly_js, plotly_version
from candlecast.core.report.charts import (
    HISTORY_DAYS,
    decomposition_figure,
    figure_html,
    price_figure,
)
from candlecast.core.report.slug import series_slug
from candlecast.core.report.summary import champions_text
from candlecast.core.report.tables import (
    facts_section,
    flags_table,
    forecast_table,
    leaderboard_table,
    number,
    quality_notes,
    realised_table,
)
from candlecast.core.report.timefmt import show
from candlecast.core.results import RunResults, SeriesOutcome, TargetOutcome


def _script_safe(js: str) -> str:
    """JavaScript that cannot end its <script> element early."""
    return js.replace("</script", "<\\/script")


FOLD_ROWS = 12
"""Tables longer than this start folded (a one-line summary opens them)."""


def _folded(table_html: str, summary: str | None) -> str:
    """`table_html`, inside a <details> element opened by `summary` when one is given."""
    if summary is None:
        return table_html
    return f"<details><summary>{escape(summary)}</summary>{table_html}</details>"


def _forecast_summary(outcome: TargetOutcome) -> str | None:
    frame = outcome.champion_forecast()
    if frame is None or len(frame) <= FOLD_ROWS:
        return None
    first, last = frame.iloc[0], frame.iloc[-1]
    return (
        f"next {len(frame)} candles: {number(first['value'], 7)} at {show(first['target_time'])}"
        f" … {number(last['value'], 7)} at {show(last['target_time'])} (show every step)"
    )


def _flags_summary(outcome: SeriesOutcome) -> str | None:
    if len(outcome.flags) <= FOLD_ROWS // 2:
        return None
    kinds: dict[str, int] = {}
    for flag in outcome.flags:
        kinds[flag.kind] = kinds.get(flag.kind, 0) + 1
    counts = ", ".join(f"{n} {kind}" for kind, n in sorted(kinds.items()))
    return f"{len(outcome.flags)} flags: {counts} (show them all)"


FLAGGED_TARGET = "close"
"""The anomaly flags are drawn on this target's chart (on the first target's without it)."""


def target_section(
    outcome: SeriesOutcome, forecasts: TargetOutcome, history_days: float, flags: bool
) -> str:
    """One target of one series: champion, chart, forecast table and leaderboard."""
    slug = f"{series_slug(outcome.id)}-{series_slug(forecasts.target)}"
    parts = [f'<h3 id="{slug}">{escape(forecasts.target)}</h3>']
    if forecasts.error:
        parts.append(f'<div class="callout error"><b>Failed:</b> {escape(forecasts.error)}</div>')
    elif forecasts.champion:
        parts.append(
            f'<div class="callout"><b>Champion: {escape(forecasts.champion)}.</b> '
            f"{escape(forecasts.champion_reason or '')}"
            f'<br><span class="muted">{escape(forecasts.target)} forecast from the candle of '
            f"{show(outcome.origin)}</span></div>"
        )
    has_history = outcome.candles is not None and not outcome.candles.empty
    if has_history or any(m.forecast is not None for m in forecasts.models.values()):
        figure = price_figure(outcome, forecasts, history_days, flags=flags)
        parts.append(f'<div class="chart">{figure_html(figure, f"chart-{slug}")}</div>')
    parts += [
        "<h4>Forecast</h4>",
        _folded(forecast_table(forecasts), _forecast_summary(forecasts)),
        "<h4>Backtest leaderboard</h4>",
        '<p class="muted">Coverage and interval scores are out of sample: each backtest '
        "origin's band was calibrated only on the origins before it, as a scheduled run "
        "publishes them (the interval score adds the misses, weighted, to the width: lower "
        "is better).</p>",
        leaderboard_table(forecasts),
        "<h4>Published forecasts, realised (last 28 days)</h4>",
        realised_table(forecasts),
    ]
    return "".join(parts)


def series_section(outcome: SeriesOutcome, history_days: float = HISTORY_DAYS) -> str:
    """Everything about one series, as an HTML <section>: each target, then the flags, the
    decomposition and the data-quality notes."""
    slug = series_slug(outcome.id)
    parts = [f'<section class="series" id="{slug}"><h2>{escape(outcome.id)}</h2>']
    if outcome.error:
        parts.append(f'<div class="callout error"><b>Failed:</b> {escape(outcome.error)}</div>')
    targets = list(outcome.targets.values())
    flagged = FLAGGED_TARGET if FLAGGED_TARGET in outcome.targets else None
    flagged = flagged or (targets[0].target if targets else None)
    for forecasts in targets:
        parts.append(target_section(outcome, forecasts, history_days, forecasts.target == flagged))
    parts += [
        f"<h3>Anomaly flags ({len(outcome.flags)})</h3>",
        _folded(flags_table(outcome), _flags_summary(outcome)),
    ]
    parts.append("<h3>Decomposition</h3>")
    decomposition = decomposition_figure(outcome)
    if decomposition is not None:
        parts.append(f'<div class="chart">{figure_html(decomposition, f"decomp-{slug}")}</div>')
    else:
        parts.append('<p class="muted">No decomposition: the series has no candles here.</p>')
    parts += ["<h3>Data quality</h3>", quality_notes(outcome), "</section>"]
    return "".join(parts)


def _problems(results: RunResults) -> str:
    """What failed in part, at the top of the page: a `partial` run says what."""
    problems = results.problems()
    if not problems:
        return ""
    items = "".join(f"<li>{escape(p)}</li>" for p in problems)
    return f'<div class="callout error"><b>Failed in this run:</b><ul>{items}</ul></div>'


def render_run_report(results: RunResults, history_days: float = HISTORY_DAYS) -> str:
    """The whole report of one run as an HTML document (a pure function of `results`)."""
    title = f"candlecast run {results.run_id}"
    toc = (
        " ".join(f'<a href="#{series_slug(s.id)}">{escape(s.id)}</a>' for s in results.series)
        + ' <a href="#run-facts">run facts</a> <a href="index.html">all runs</a>'
    )
    champions = ", ".join(f"{escape(s.id)}: {escape(champions_text(s))}" for s in results.series)
    sections = _problems(results) + "".join(series_section(s, history_days) for s in results.series)
    if not results.series:
        sections = '<p class="muted">This run has no series.</p>'
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title>"
        f"<style>{STYLE}</style>"
        f"<script>{_script_safe(plotly_js())}</script>"
        "</head><body>"
        f'<header class="page"><h1>{escape(title)} '
        f'<span class="badge {escape(results.status)}">{escape(results.status)}</span></h1>'
        f'<div class="muted">started {show(results.started)} · config '
        f"{escape(results.config_hash)} · {champions}</div>"
        f'<nav class="toc">{toc}</nav></header>'
        f"<main>{sections}{facts_section(results, plotly_version())}</main>"
        "</body></html>\n"
    )
