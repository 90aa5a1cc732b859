"""The run in the Prefect UI: its summary, the leaderboard and one summary per (series,
target), as artifacts under stable keys."""

from __future__ import annotations

import logging
from pathlib import Path

from prefect.artifacts import create_markdown_artifact, create_table_artifact

from candlecast.core.report.artifacts import series_artifact_key, series_markdown
from candlecast.core.report.summary import leaderboard_rows, run_markdown
from candlecast.core.results import RunResults


def create_artifacts(results: RunResults, report: str | None = None) -> None:
    """The run summary, the leaderboard and one summary per series in the Prefect UI, under
    stable keys. Artifacts are a view: a failure is logged, never fails a finished run."""
    link = Path(report).resolve().as_uri() if report else None
    try:
        create_markdown_artifact(
            key="candlecast-run-summary",
            markdown=run_markdown(results, link),
            description=f"candlecast run {results.run_id}",
        )
        configured = (results.config.get("model") or {}).get("targets") or ["close"]
        for outcome in results.series:
            for target in outcome.targets or configured:  # a failed series: what was asked
                create_markdown_artifact(
                    key=series_artifact_key(outcome.id, target),
                    markdown=series_markdown(results, outcome, target, link),
                    description=f"{outcome.id} {target} in candlecast run {results.run_id}",
                )
        rows = leaderboard_rows(results)
        if rows:
            create_table_artifact(
                key="candlecast-leaderboard",
                table=rows,
                description=f"Backtest leaderboard of run {results.run_id}",
            )
    except Exception as exc:
        logging.getLogger("candlecast.flow").warning("could not create artifacts: %s", exc)
