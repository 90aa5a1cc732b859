"""Per-series Prefect artifacts: a stable key per series and its summary as Markdown (the
flow publishes them; nothing here talks to Prefect)."""

from __future__ import annotations

from candlecast.core.report.numbers import price_text
from candlecast.core.report.slug import series_slug
from candlecast.core.report.summary import champion_forecast
from candlecast.core.report.tables import quality_items
from candlecast.core.results import RunResults, SeriesOutcome

KEY_PREFIX = "candlecast-"
MAX_KEY = 100


def series_artifact_key(series_id: str) -> str:
    """`binance:BTC/USDT:1h` -> `candlecast-binance-btc-usdt-1h` (lowercase letters, digits
    and dashes only, as Prefect artifact keys must be)."""
    return (KEY_PREFIX + series_slug(series_id))[:MAX_KEY].rstrip("-")


def _fmt(value: object, digits: int = 7) -> str:
    try:
        return f"{float(value):.{digits}g}"  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return "–"


def series_markdown(
    results: RunResults, outcome: SeriesOutcome, report_link: str | None = None
) -> str:
    """One series of one run: champion and why, the forecast with its intervals, the
    leaderboard's head, the flags and the data-quality notes."""
    lines = [f"# {outcome.id}", "", f"Run `{results.run_id}` ({results.status})."]
    if report_link:
        lines.append(f"Report: {report_link}")
    if outcome.error:
        return "\n".join([*lines, "", f"**Failed:** {outcome.error}"])
    lines += ["", f"Champion **{outcome.champion}**: {outcome.champion_reason}"]
    forecast = champion_forecast(outcome)
    if forecast is not None and not forecast.empty:
        lines += ["", "| step | time (UTC) | forecast | 80% | 95% |", "|---|---|---|---|---|"]
        for row in forecast.to_dict("records"):
            lines.append(
                f"| {row['step']} | {row['target_time']:%Y-%m-%d %H:%M} | "
                f"{price_text(row['value'])} | "
                f"{price_text(row.get('lower_80'))} – {price_text(row.get('upper_80'))} | "
                f"{price_text(row.get('lower_95'))} – {price_text(row.get('upper_95'))} |"
            )
    board = outcome.leaderboard
    if board is not None and not board.empty and "mase" in board:
        lines += ["", "| model | family | MASE | sMAPE % |", "|---|---|---|---|"]
        for row in board.sort_values("mase").to_dict("records"):
            name = f"**{row['model']}**" if row["model"] == outcome.champion else row["model"]
            lines.append(
                f"| {name} | {row.get('family', '')} | {_fmt(row['mase'], 4)} | "
                f"{_fmt(row.get('smape'), 4)} |"
            )
    lines += ["", f"{len(outcome.flags)} anomaly flag(s)."]
    for flag in sorted(outcome.flags, key=lambda f: f.timestamp, reverse=True)[:5]:
        lines.append(f"- {flag.timestamp:%Y-%m-%d %H:%M} UTC, {flag.kind}: {flag.reason}")
    notes = quality_items(outcome)
    if notes:
        lines += ["", "Data quality:"] + [f"- {label}: {text}" for label, text in notes]
    return "\n".join(lines)
