"""A run's summary as Markdown and as table rows (for Prefect artifacts and the terminal)."""

from __future__ import annotations

from typing import Any

from candlecast.core.report.numbers import metric_value, price_text
from candlecast.core.results import RunResults, SeriesOutcome


def champion_forecast(outcome: SeriesOutcome) -> Any:
    """The champion's forecast table (or None)."""
    if outcome.champion is None:
        return None
    model = outcome.models.get(outcome.champion)
    return model.forecast if model else None


def leaderboard_rows(results: RunResults) -> list[dict[str, Any]]:
    """One row per (series, model) with the headline metrics, champion first per series."""
    rows = []
    for outcome in results.series:
        board = outcome.leaderboard
        if board is None or board.empty:
            continue
        for record in board.to_dict("records"):
            rows.append(
                {
                    "series": outcome.id,
                    "model": record["model"],
                    "family": record.get("family"),
                    "champion": record["model"] == outcome.champion,
                    "MASE": metric_value(record.get("mase")),
                    "MAE/naive": metric_value(record.get("mae_rel")),
                    "sMAPE %": metric_value(record.get("smape")),
                    "direction": metric_value(record.get("directional_accuracy"), 3),
                    "coverage 80": metric_value(record.get("coverage_80"), 3),
                    "coverage 95": metric_value(record.get("coverage_95"), 3),
                }
            )
    return rows


def run_markdown(results: RunResults, report_link: str | None = None) -> str:
    """The run in a few lines: status, per series the champion, its reason, its forecast."""
    lines = [
        f"# candlecast run `{results.run_id}`",
        "",
        f"Status **{results.status}**, started {results.started:%Y-%m-%d %H:%M} UTC, "
        f"config `{results.config_hash}`.",
    ]
    if report_link:
        lines.append(f"Report: {report_link}")
    for outcome in results.series:
        lines += ["", f"## {outcome.id}"]
        if outcome.error:
            lines.append(f"**Failed:** {outcome.error}")
            continue
        lines.append(f"Champion **{outcome.champion}**: {outcome.champion_reason}")
        forecast = champion_forecast(outcome)
        if forecast is not None and not forecast.empty:
            lines += ["", "| step | time (UTC) | forecast | 80% | 95% |", "|---|---|---|---|---|"]
            for row in forecast.head(6).to_dict("records"):
                band80 = f"{price_text(row.get('lower_80'))} – {price_text(row.get('upper_80'))}"
                band95 = f"{price_text(row.get('lower_95'))} – {price_text(row.get('upper_95'))}"
                lines.append(
                    f"| {row['step']} | {row['target_time']:%Y-%m-%d %H:%M} | "
                    f"{price_text(row['value'])} | {band80} | {band95} |"
                )
            if len(forecast) > 6:
                lines.append(f"| … | {len(forecast) - 6} more steps | | | |")
        if outcome.flags:
            lines.append(
                f"\n{len(outcome.flags)} anomaly flag(s); newest: {outcome.flags[-1].reason}"
            )
        notes = [v for v in outcome.quality.values() if isinstance(v, str) and v]
        if notes:
            lines.append("\nData quality: " + "; ".join(notes))
    return "\n".join(lines)


def run_summary(
    results: RunResults,
    recorded: dict[str, int],
    published: dict[str, str],
    report: str | None,
) -> dict[str, Any]:
    """What a run returns (the flow's result, the CLI's table): its status, per series the
    champion, why, and what failed; what was recorded and published; where the report is."""
    return {
        "run_id": results.run_id,
        "status": results.status,
        "series": {
            s.id: {
                "champion": s.champion,
                "reason": s.champion_reason,
                "error": s.error,
                "model_failures": "; ".join(f"{m}: {e}" for m, e in s.model_failures.items())
                or None,  # e.g. a training timeout
            }
            for s in results.series
        },
        "published": published,
        "recorded": recorded,
        "report": report,
    }
