"""Where and when a run executes: the task runner the configuration asks for, TensorFlow's
thread pools and the one-training-at-a-time turn of a process, and the late-run rule of
scheduled runs (`config.orchestration`, `config.schedule`)."""

from __future__ import annotations

import logging
from typing import NoReturn

import pandas as pd
from prefect.task_runners import TaskRunner, ThreadPoolTaskRunner

from candlecast.core.config import Config, available_cores
from candlecast.core.errors import CandlecastError, ConfigError


class _WorkerThreadTimeoutNotice(logging.Filter):
    """Prefect warns, for every task with a timeout that runs in a worker thread, that the
    timeout only acts once a blocking call returns. A training is a Python loop of Keras steps,
    so its timeout does stop it (at the next step): the notice would only repeat for every
    training of every run."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(
            "Timeout of %s seconds configured for this task, but the task is running in a "
            "worker thread"
        )


logging.getLogger("prefect.task_runs").addFilter(_WorkerThreadTimeoutNotice())


def build_task_runner(config: Config) -> TaskRunner:
    """The task runner `orchestration` asks for: a thread pool (default), or Dask through
    prefect-dask: the cluster at `dask_address`, or a LocalCluster of `dask_workers` processes
    that each run `threads_per_worker` tasks at once. Nothing starts here."""
    orchestration = config.orchestration
    if orchestration.task_runner == "threads":
        return ThreadPoolTaskRunner(max_workers=orchestration.max_workers or available_cores())
    problem = config.cluster_storage_problem()  # before anything else: the run cannot work
    if problem:
        raise ConfigError(problem)
    from prefect.settings import get_current_settings
    from prefect_dask import DaskTaskRunner

    if not get_current_settings().api.url:
        raise CandlecastError(
            "orchestration.task_runner = 'dask' needs a Prefect API that the Dask workers can "
            "reach, and none is set (PREFECT_API_URL): start one with `prefect server start` "
            "and `export PREFECT_API_URL=http://127.0.0.1:4200/api`, or use task_runner = "
            "'threads'"
        )
    if orchestration.dask_address:
        return DaskTaskRunner(address=orchestration.dask_address)
    return DaskTaskRunner(
        cluster_kwargs={
            "n_workers": orchestration.dask_workers or available_cores(),
            "threads_per_worker": orchestration.threads_per_worker,
            "processes": True,
            "dashboard_address": ":0",  # any free port: several clusters on one machine
        }
    )


def size_tensorflow(config: Config) -> int:
    """Size this process's TensorFlow pools for one training at a time:
    `orchestration.resolved_tf_threads()` (the cores shared out over the trainings that run at
    once on this machine, unless set; `training.threads` where `orchestration.tf_threads` is
    not set). Only the first call in a process, before TensorFlow executes, takes effect."""
    from candlecast.core.models.training import configure_threads

    orchestration = config.orchestration
    if orchestration.tf_threads is None and config.training.threads:
        orchestration = orchestration.model_copy(update={"tf_threads": config.training.threads})
    threads = orchestration.resolved_tf_threads()
    configure_threads(threads)
    return threads


def scheduled_start() -> pd.Timestamp | None:
    """When this deployment run was scheduled to start; None outside a deployment run."""
    from prefect.runtime import deployment, flow_run

    if not deployment.id:
        return None
    return pd.Timestamp(flow_run.scheduled_start_time).tz_convert("UTC")


def late_run_reason(
    config: Config, scheduled: pd.Timestamp | None, now: pd.Timestamp | None = None
) -> str | None:
    """Why a deployment run scheduled for `scheduled` is skipped as late now, or None:
    only under `schedule.late_runs = "skip"`, and only when it starts more than
    `schedule.late_after_minutes` after its time. A run started by hand (`scheduled` None) is
    never late."""
    if config.schedule.late_runs != "skip" or scheduled is None:
        return None
    now = now if now is not None else pd.Timestamp.now(tz="UTC")
    late = now - scheduled
    if late <= pd.Timedelta(minutes=config.schedule.late_after_minutes):
        return None
    return (
        f"skipped: started {late.round('s')} after its scheduled time {scheduled.isoformat()}, "
        f"later than schedule.late_after_minutes = {config.schedule.late_after_minutes:g} "
        "(schedule.late_runs = 'skip'); the next scheduled run will forecast"
    )


def end_cancelled(message: str) -> NoReturn:
    """End this deployment run at once, Cancelled with `message`, cleanly.

    A flow that returns a Cancelled state ends Cancelled too, but Prefect's deployment executor
    then raises it as `CancelledRun` and logs an ERROR with a traceback in the run's logs. So
    the run's state is set here and the engine is stopped with its own signal (`Abort`, carrying
    that state), which it handles without an error: the run's logs end with "Finished in state
    Cancelled(...)"."""
    from prefect.client.orchestration import get_client
    from prefect.exceptions import Abort
    from prefect.runtime import flow_run
    from prefect.states import Cancelled

    with get_client(sync_client=True) as client:
        result = client.set_flow_run_state(flow_run.id, Cancelled(message=message), force=True)
    signal = Abort(message)
    signal.state = result.state  # type: ignore[attr-defined]  (the engine records it)
    raise signal
