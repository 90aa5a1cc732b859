"""One run's report as one self-contained HTML page (plotly.js inline, no network needed):
per series the recent price with the forecasts, the champion's intervals and the flags, the
decomposition, the leaderboard and the data-quality notes; then the run's facts."""

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
from candlecast.core.report.tables import (
    facts_section,
    flags_table,
    forecast_table,
    leaderboard_table,
    number,
    quality_notes,
)
from candlecast.core.report.timefmt import show
from candlecast.core.results import RunResults, SeriesOutcome


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


def _forecast_summary(outcome: SeriesOutcome) -> str | None:
    model = outcome.models.get(outcome.champion) if outcome.champion else None
    frame = model.forecast if model is not None else None
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


def series_section(outcome: SeriesOutcome, history_days: float = HISTORY_DAYS) -> str:
    """Everything about one series, as an HTML <section>."""
    slug = series_slug(outcome.id)
    parts = [f'<section class="series" id="{slug}"><h2>{escape(outcome.id)}</h2>']
    if outcome.error:
        parts.append(f'<div class="callout error"><b>Failed:</b> {escape(outcome.error)}</div>')
    elif outcome.champion:
        parts.append(
            f'<div class="callout"><b>Champion: {escape(outcome.champion)}.</b> '
            f"{escape(outcome.champion_reason or '')}"
            f'<br><span class="muted">forecast from the candle of {show(outcome.origin)}'
            f" ({escape(outcome.target)})</span></div>"
        )
    has_history = outcome.candles is not None and not outcome.candles.empty
    if has_history or any(m.forecast is not None for m in outcome.models.values()):
        figure = price_figure(outcome, history_days)
        parts.append(f'<div class="chart">{figure_html(figure, f"price-{slug}")}</div>')
    parts += ["<h3>Forecast</h3>", _folded(forecast_table(outcome), _forecast_summary(outcome))]
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
    parts += ["<h3>Backtest leaderboard</h3>"]
    if outcome.champion_reason:
        parts.append(f"<p>{escape(outcome.champion_reason)}</p>")
    parts += [leaderboard_table(outcome), "<h3>Data quality</h3>", quality_notes(outcome)]
    parts.append("</section>")
    return "".join(parts)


def render_run_report(results: RunResults, history_days: float = HISTORY_DAYS) -> str:
    """The whole report of one run as an HTML document (a pure function of `results`)."""
    title = f"candlecast run {results.run_id}"
    toc = (
        " ".join(f'<a href="#{series_slug(s.id)}">{escape(s.id)}</a>' for s in results.series)
        + ' <a href="#run-facts">run facts</a> <a href="index.html">all runs</a>'
    )
    champions = ", ".join(
        f"{escape(s.id)}: {escape(s.champion or 'failed')}" for s in results.series
    )
    sections = "".join(series_section(s, history_days) for s in results.series)
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
