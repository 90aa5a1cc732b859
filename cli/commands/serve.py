"""`candlecast serve`: register the hourly forecast and daily retrain deployments of the
configured universe with the Prefect API and run them on their schedules from this process
(`--once`: run what is due now and return). Needs a Prefect server (PREFECT_API_URL)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from candlecast.cli.app import console, quiet_runtime
from candlecast.cli.options import SeriesOptions, series_options
from candlecast.core.errors import CandlecastError


@series_options
def serve(
    options: SeriesOptions,
    once: Annotated[
        bool, typer.Option(help="Run the runs due now (e.g. triggered ones), then exit.")
    ] = False,
    limit: Annotated[
        int | None, typer.Option(min=1, help="Flow runs this process executes at once.")
    ] = None,
    query_seconds: Annotated[
        float | None, typer.Option(min=1, help="Seconds between polls for due runs.")
    ] = None,
    dry_run: Annotated[
        bool, typer.Option(help="Show the deployments and their schedules, register nothing.")
    ] = False,
) -> None:
    """Serve the forecast (schedule.forecast_cron) and retrain (schedule.retrain_cron)
    deployments; each never overlaps itself."""
    cfg = options.build()
    from candlecast.deploy.deployments import plan_deployments

    plans = plan_deployments(cfg)
    table = Table(title="candlecast deployments")
    table.add_column("deployment", overflow="fold")
    for column in ("mode", "cron", "time zone", "overlap", "late runs"):
        table.add_column(column)
    for plan in plans:
        table.add_row(
            plan.full_name,
            plan.mode,
            plan.cron,
            plan.timezone,
            f"limit 1, {plan.collision_strategy.value}",
            f"{cfg.schedule.late_runs} (after {cfg.schedule.late_after_minutes:g} min)",
        )
    console.print(table)
    if dry_run:
        return
    quiet_runtime()
    from prefect.settings import get_current_settings

    if not get_current_settings().api.url:
        raise CandlecastError(
            "serving deployments needs a Prefect server: start one (`prefect server start`) "
            "and set PREFECT_API_URL, e.g. http://127.0.0.1:4200/api"
        )
    from candlecast.deploy.serve import serve as serve_deployments

    console.print("running due runs once" if once else "serving; Ctrl-C stops (schedules are kept)")
    serve_deployments(cfg, once=once, limit=limit, query_seconds=query_seconds)
