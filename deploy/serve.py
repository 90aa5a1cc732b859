"""Serve the deployments of a configuration from this process (`candlecast serve`).

    serve(config)                 register both deployments and run them on their schedules
                                  until Ctrl-C / SIGTERM (prefect.serve)
    serve(config, once=True)      register them, run whatever is due now (within the runner's
                                  prefetch window), wait for it, and return

Each flow run executes in a subprocess of this one. On shutdown the schedules are paused under
`schedule.late_runs = "skip"` (nothing piles up while nobody serves) and left active under
"catch_up" (the runs missed meanwhile run, one after another, when serving starts again).
"""

from __future__ import annotations

import asyncio
import os

from prefect import serve as prefect_serve
from prefect.runner import Runner

from candlecast.core.config import Config
from candlecast.deploy.deployments import build_deployments


def serve(
    config: Config,
    *,
    once: bool = False,
    limit: int | None = None,
    query_seconds: float | None = None,
) -> None:
    """Register the forecast and retrain deployments of `config` and execute their runs.

    `limit`: flow runs this process executes at once (Prefect's default when None; each
    deployment never overlaps itself anyway). `query_seconds`: how often to poll for due runs.
    """
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    deployments = build_deployments(config)
    pause_on_shutdown = config.schedule.late_runs == "skip"
    if once:
        runner = Runner(limit=limit, pause_on_shutdown=False, query_seconds=query_seconds or None)
        for deployment in deployments:
            runner.add_deployment(deployment)
        asyncio.run(runner.start(run_once=True))
        return
    kwargs = {"query_seconds": query_seconds} if query_seconds else {}
    prefect_serve(*deployments, limit=limit, pause_on_shutdown=pause_on_shutdown, **kwargs)


__all__ = ["serve"]
