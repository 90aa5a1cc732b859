"""Per-(series, target) Prefect artifacts: a stable key for each and its summary as Markdown
(the flow publishes them; nothing here talks to Prefect)."""

from __future__ import annotations

from candlecast.core.report.slug import series_slug
from candlecast.core.report.summary import forecast_lines
from candlecast.core.report.tables import quality_items
from candlecast.core.results import RunResults, SeriesOutcome, TargetOutcome

KEY_PREFIX = "candlecast-"
MAX_KEY = 100


def series_artifact_key(series_id: str, target: str) -> str:
    """`binance:BTC/USDT:1h`, `close` -> `candlecast-binance-btc-usdt-1h-close` (lowercase
    letters, digits and dashes only, as Prefect artifact keys must be)."""
    return (KEY_PREFIX + series_slug(f"{series_id}-{target}"))[:MAX_KEY].rstrip("-")


def _fmt(value: object, digits: int = 4) -> str:
    try:
        return f"{float(value):.{digits}g}"  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return "–"


def series_markdown(
    results: RunResults, outcome: SeriesOutcome, name: str, report_link: str | None = None
) -> str:
    """Target `name` of one series in one run: champion and why, the forecast with its
    intervals, the leaderboard's head, the series' flags and its data-quality notes."""
    lines = [f"# {outcome.id} {name}", "", f"Run `{results.run_id}` ({results.status})."]
    if report_link:
        lines.append(f"Report: {report_link}")
    target = outcome.targets.get(name) or TargetOutcome(name, error="not forecast in this run")
    error = outcome.error or target.error
    if error:
        return "\n".join([*lines, "", f"**Failed:** {error}"])
    lines += ["", f"Champion **{target.champion}**: {target.champion_reason}"]
    table = forecast_lines(target.champion_forecast())
    if table:
        lines += ["", *table]
    board = target.leaderboard
    if board is not None and not board.empty and "mase" in board:
        lines += [
            "",
            "| model | family | MASE | sMAPE % | coverage 80% | interval score 80% |",
            "|---|---|---|---|---|---|",
        ]
        for row in board.sort_values("mase").to_dict("records"):
            name = f"**{row['model']}**" if row["model"] == target.champion else row["model"]
            lines.append(
                f"| {name} | {row.get('family', '')} | {_fmt(row['mase'])} | "
                f"{_fmt(row.get('smape'))} | {_fmt(row.get('coverage_80'), 3)} | "
                f"{_fmt(row.get('winkler_80'))} |"
            )
    lines += ["", f"{len(outcome.flags)} anomaly flag(s) on {outcome.id}."]
    for flag in sorted(outcome.flags, key=lambda f: f.timestamp, reverse=True)[:5]:
        lines.append(f"- {flag.timestamp:%Y-%m-%d %H:%M} UTC, {flag.kind}: {flag.reason}")
    notes = quality_items(outcome)
    if notes:
        lines += ["", "Data quality:"] + [f"- {label}: {text}" for label, text in notes]
    return "\n".join(lines)
