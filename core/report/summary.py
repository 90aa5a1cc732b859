"""A run's summary as Markdown, as table rows (for Prefect artifacts and the terminal) and as
the run's result (what the flow returns and the CLI prints)."""

from __future__ import annotations

from typing import Any

from candlecast.core.report.numbers import metric_value, price_text
from candlecast.core.results import RunResults, SeriesOutcome


def champions_text(outcome: SeriesOutcome) -> str:
    """`close: naive, volume: gru` (or `failed`)."""
    if outcome.error:
        return "failed"
    return ", ".join(
        f"{t.target}: {'failed' if t.error else t.champion or '–'}"
        for t in outcome.targets.values()
    )


def leaderboard_rows(results: RunResults) -> list[dict[str, Any]]:
    """One row per (series, target, model) with the headline metrics as numbers, the
    champion marked."""
    rows = []
    for outcome in results.series:
        for target in outcome.targets.values():
            board = target.leaderboard
            if board is None or board.empty:
                continue
            for record in board.to_dict("records"):
                rows.append(
                    {
                        "series": outcome.id,
                        "target": target.target,
                        "model": record["model"],
                        "family": record.get("family"),
                        "champion": record["model"] == target.champion,
                        "MASE": metric_value(record.get("mase")),
                        "MAE/naive": metric_value(record.get("mae_rel")),
                        "sMAPE %": metric_value(record.get("smape")),
                        "direction": metric_value(record.get("directional_accuracy"), 3),
                        "coverage 80": metric_value(record.get("coverage_80"), 3),
                        "interval score 80": metric_value(record.get("winkler_80")),
                        "coverage 95": metric_value(record.get("coverage_95"), 3),
                        "interval score 95": metric_value(record.get("winkler_95")),
                    }
                )
    return rows


def forecast_lines(frame: Any, rows: int | None = None) -> list[str]:
    """The champion's forecast as Markdown table lines (the first `rows` steps)."""
    if frame is None or frame.empty:
        return []
    lines = ["| step | time (UTC) | forecast | 80% | 95% |", "|---|---|---|---|---|"]
    shown = frame if rows is None else frame.head(rows)
    for row in shown.to_dict("records"):
        lines.append(
            f"| {row['step']} | {row['target_time']:%Y-%m-%d %H:%M} | {price_text(row['value'])} | "
            f"{price_text(row.get('lower_80'))} – {price_text(row.get('upper_80'))} | "
            f"{price_text(row.get('lower_95'))} – {price_text(row.get('upper_95'))} |"
        )
    if rows is not None and len(frame) > rows:
        lines.append(f"| … | {len(frame) - rows} more steps | | | |")
    return lines


def run_markdown(results: RunResults, report_link: str | None = None) -> str:
    """The run in a few lines: status, per series and target the champion, its reason, its
    forecast."""
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
        for target in outcome.targets.values():
            lines += ["", f"### {target.target}"]
            if target.error:
                lines.append(f"**Failed:** {target.error}")
                continue
            lines.append(f"Champion **{target.champion}**: {target.champion_reason}")
            table = forecast_lines(target.champion_forecast(), rows=6)
            if table:
                lines += ["", *table]
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
    """What a run returns (the flow's result, the CLI's table): its status, per series and
    target the champion, why, and what failed; what was recorded and published; where the
    report is."""
    return {
        "run_id": results.run_id,
        "status": results.status,
        "series": {
            s.id: {
                "error": s.error,
                "targets": {
                    t.target: {
                        "champion": t.champion,
                        "reason": t.champion_reason,
                        "error": t.error,
                        "model_failures": "; ".join(
                            f"{m}: {e}" for m, e in t.model_failures.items()
                        )
                        or None,  # e.g. a training timeout
                    }
                    for t in s.targets.values()
                },
            }
            for s in results.series
        },
        "problems": results.problems(),
        "published": published,
        "recorded": recorded,
        "report": report,
    }
