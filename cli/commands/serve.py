"""`candlecast serve`: register the hourly forecast and daily retrain deployments of the
configured universe with the Prefect API and run them on their schedules from this process
(`--once`: run what is due now, print how each run ended, and return). Needs a Prefect server
(PREFECT_API_URL)."""

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
        bool,
        typer.Option(
            help="Run the runs due now (e.g. triggered ones), print how each ended, exit."
        ),
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
    warm: Annotated[
        bool,
        typer.Option(
            help="Keep TensorFlow and the loaded models warm between runs in long-lived Dask "
            "workers beside this process (unless the configuration names a Dask cluster). They "
            "train in parallel; on a machine of a few cores, --no-warm runs forecast-only runs "
            "faster (docs/operations.md, Served runs)."
        ),
    ] = True,
) -> None:
    """Serve the forecast (schedule.forecast_cron) and retrain (schedule.retrain_cron)
    deployments; each never overlaps itself. Ctrl-C stops serving; under schedule.late_runs =
    'skip' it also pauses both schedules (serving again resumes them)."""
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
    from candlecast.deploy.serve import shutdown_note

    if not once:
        console.print(f"serving; {shutdown_note(cfg)}", highlight=False)
        serve_deployments(cfg, limit=limit, query_seconds=query_seconds, warm=warm)
        return
    console.print("running the runs due now, then exiting")
    finished = serve_deployments(cfg, once=True, limit=limit, query_seconds=query_seconds)
    print_finished(finished, [plan.name for plan in plans])


def print_finished(finished: list, deployments: list[str]) -> None:
    """What `--once` did: each run that ended meanwhile, with its state and why."""
    if not finished:
        console.print(
            f"nothing was due: no run of {' or '.join(deployments)} was scheduled to start by now",
            highlight=False,
            soft_wrap=True,
        )
        return
    console.print(f"{len(finished)} flow run(s) ended:")
    for run in finished:
        why = f": {run.message}" if run.message and run.state != "Completed" else ""
        console.print(
            f"  {run.deployment}: flow run {run.name!r} {run.state}{why}",
            highlight=False,
            soft_wrap=True,
        )
