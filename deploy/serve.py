"""Serve the deployments of a configuration from this process (`candlecast serve`).

    serve(config)                 register both deployments and run them on their schedules
                                  until Ctrl-C / SIGTERM (prefect.serve)
    serve(config, once=True)      register them, run whatever is due now (within the runner's
                                  prefetch window), wait for it, and return the runs that
                                  finished meanwhile

Each flow run executes in a subprocess of this one (Prefect's runner spawns a fresh interpreter
per run), so nothing a run loads would outlive it. To keep TensorFlow, the loaded models and their
traced graphs warm between scheduled runs, `serve` starts a Dask LocalCluster of long-lived
worker processes beside itself (`warm_workers`) and the served runs send their tasks there
(`orchestration.task_runner = "dask"` at that address): each worker keeps its process-level model
cache (`core.models.cache`) from one run to the next. A configuration that already names a Dask
cluster (`dask_address`) keeps it. On shutdown the schedules are paused under
`schedule.late_runs = "skip"` (nothing piles up while nobody serves; serving again resumes them)
and left active under "catch_up" (the runs missed meanwhile run, one after another, when serving
starts again).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from uuid import UUID

from prefect import serve as prefect_serve
from prefect.runner import Runner

from candlecast.core.config import Config, available_cores
from candlecast.deploy.deployments import build_deployments


@dataclass(frozen=True)
class FinishedRun:
    """A flow run that `serve(once=True)` saw end: what `candlecast serve --once` prints."""

    deployment: str
    name: str
    state: str  # "Completed", "Cancelled", "Failed", ...
    message: str


def shutdown_note(config: Config) -> str:
    """What Ctrl-C does to the schedules, for the operator who is about to press it."""
    if config.schedule.late_runs == "skip":
        return (
            "Ctrl-C stops serving and pauses both schedules (schedule.late_runs = 'skip': runs "
            "missed meanwhile are not made up; serving again resumes them)"
        )
    return (
        "Ctrl-C stops serving; the schedules stay active (schedule.late_runs = 'catch_up': "
        "the runs missed meanwhile run one after another when serving starts again)"
    )


@contextlib.contextmanager
def warm_workers(config: Config, enabled: bool = True) -> Iterator[Config]:
    """The configuration the served runs use: with `enabled` and no Dask cluster of its own, a
    LocalCluster of long-lived workers (one process per core, one task at a time each, as a
    run's own LocalCluster) is started for as long as this context lasts and the runs' tasks go
    there, so that TensorFlow and the models stay loaded between runs."""
    orchestration = config.orchestration
    if not enabled or orchestration.dask_address:
        yield config
        return
    from distributed import LocalCluster

    with LocalCluster(
        n_workers=orchestration.dask_workers or available_cores(),
        threads_per_worker=orchestration.threads_per_worker,
        processes=True,
        dashboard_address=":0",
    ) as cluster:
        yield served_config(config, cluster.scheduler_address)


def served_config(config: Config, address: str) -> Config:
    """`config` with its runs' tasks sent to the Dask scheduler at `address`."""
    orchestration = config.orchestration.model_copy(
        update={"task_runner": "dask", "dask_address": address, "dask_workers": None}
    )
    return config.model_copy(update={"orchestration": orchestration})


def serve(
    config: Config,
    *,
    once: bool = False,
    limit: int | None = None,
    query_seconds: float | None = None,
    warm: bool = True,
) -> list[FinishedRun]:
    """Register the forecast and retrain deployments of `config` and execute their runs.

    `limit`: flow runs this process executes at once (Prefect's default when None; each
    deployment never overlaps itself anyway). `query_seconds`: how often to poll for due runs.
    With `once`, returns the runs of the two deployments that finished while it ran (those it
    executed, and those Prefect cancelled instead of starting); serving until stopped returns
    an empty list.
    """
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    pause_on_shutdown = config.schedule.late_runs == "skip"
    if once:  # one batch of runs: nothing to keep warm for
        deployments = build_deployments(config)
        started = datetime.now(UTC)
        runner = Runner(limit=limit, pause_on_shutdown=False, query_seconds=query_seconds or None)
        ids = {runner.add_deployment(deployment): deployment.name for deployment in deployments}
        asyncio.run(runner.start(run_once=True))
        return finished_runs(ids, started)
    kwargs = {"query_seconds": query_seconds} if query_seconds else {}
    with warm_workers(config, warm) as served:
        deployments = build_deployments(served)
        prefect_serve(*deployments, limit=limit, pause_on_shutdown=pause_on_shutdown, **kwargs)
    return []


def finished_runs(deployments: dict[UUID, str], since: datetime) -> list[FinishedRun]:
    """The runs of `deployments` (id -> name) that reached a final state after `since`."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        FlowRunFilter,
        FlowRunFilterDeploymentId,
        FlowRunFilterEndTime,
    )
    from prefect.client.schemas.sorting import FlowRunSort

    query = FlowRunFilter(
        deployment_id=FlowRunFilterDeploymentId(any_=list(deployments)),
        end_time=FlowRunFilterEndTime(after_=since),
    )
    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(flow_run_filter=query, sort=FlowRunSort.END_TIME_DESC)
    return [
        FinishedRun(
            deployment=deployments.get(run.deployment_id, str(run.deployment_id)),
            name=run.name,
            state=run.state.name if run.state else "?",
            message=(run.state.message or "") if run.state else "",
        )
        for run in reversed(runs)
    ]


__all__ = [
    "FinishedRun",
    "finished_runs",
    "serve",
    "served_config",
    "shutdown_note",
    "warm_workers",
]
