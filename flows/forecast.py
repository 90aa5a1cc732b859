"""The `candlecast-forecast` flow: candles -> decomposition -> networks and baselines on the same
walk-forward folds -> champion with conformal intervals -> anomaly flags -> store -> publishers
-> report, Prefect artifacts and events.

The flow body is the list of its stages (`stages.py`), each over the typed result of the one
before. It fans out per series and per (series, cell) that trains through the flow's task
runner (the networks a series reuses share one task). A series that fails is reported and the
others go on; the run then ends `partial`.
"""

from __future__ import annotations

import time
from typing import Any, Literal

import pandas as pd
from prefect import flow, get_run_logger
from prefect.context import get_run_context
from prefect.task_runners import ThreadPoolTaskRunner

from candlecast.core.config import Config, available_cores
from candlecast.core.errors import CandlecastError, SourceError
from candlecast.core.report.summary import run_summary
from candlecast.core.results import RunResults
from candlecast.flows import stages
from candlecast.flows.artifacts import create_artifacts
from candlecast.flows.events import emit_anomaly_events
from candlecast.flows.locking import series_lease
from candlecast.flows.runner import (
    build_task_runner,
    end_cancelled,
    late_run_reason,
    scheduled_start,
)
from candlecast.flows.runtime import new_run_id, resolve_config
from candlecast.flows.tasks import record_run, render_report

Mode = Literal["auto", "train", "forecast"]


def run_forecast(config: Config, mode: Mode = "auto", run_id: str | None = None) -> dict[str, Any]:
    """One run of `forecast_flow` with the task runner the configuration asks for (the CLI's
    and the benchmark's entry)."""
    runner = build_task_runner(config)
    return forecast_flow.with_options(task_runner=runner)(config=config, mode=mode, run_id=run_id)


@flow(
    name="candlecast-forecast",
    log_prints=True,
    validate_parameters=True,
    task_runner=ThreadPoolTaskRunner(max_workers=available_cores()),
)
def forecast_flow(
    config: Config | None = None,
    config_path: str | None = None,
    mode: Mode = "auto",
    run_id: str | None = None,
) -> dict[str, Any]:
    """One scheduled run over every configured series. `mode`: "auto" retrains as
    `training.retrain` says, "train" retrains every network, "forecast" reuses registered models
    (training only where none is usable)."""
    log = get_run_logger()
    started_clock = time.perf_counter()
    config = resolve_config(config, config_path)
    late = late_run_reason(config, scheduled_start())
    if late is not None:
        log.warning(late)
        end_cancelled(late)
    runner = build_task_runner(config)
    if get_run_context().task_runner != runner:
        # a deployment's entrypoint starts with the decorator's runner; the configuration
        # asks for another one (Dask, other max_workers): the run goes on as a subflow with it
        log.info("running with the configured task runner %s", type(runner).__name__)
        return forecast_flow.with_options(task_runner=runner)(
            config=config, mode=mode, run_id=run_id
        )
    run_id = run_id or new_run_id(pd.Timestamp.now(tz="UTC"), config)
    with series_lease(config, run_id, log):  # one run per series at a time (storage.lock_*)
        return _forecast(config, mode, run_id, log, started_clock)


def _forecast(
    config: Config, mode: Mode, run_id: str, log: Any, started_clock: float
) -> dict[str, Any]:
    """The stages of one run, while it holds the locks of its series."""
    run = stages.begin_run(config, mode, run_id, log)
    tasks = stages.submit_series(run)
    globals_ = stages.submit_globals(run, tasks)
    gathered = {key: stages.gather(run, key, tasks[key], globals_) for key in run.keys}
    exclude, scope_reason = stages.choose_scope_of(run, gathered)
    outcomes = {
        key: stages.evaluate_series(run, g, exclude, scope_reason) for key, g in gathered.items()
    }
    new_events = stages.detect(run, gathered, outcomes, tasks)
    results = run.results
    results.series = list(outcomes.values())
    results.settle_status()
    results.finished = pd.Timestamp.now(tz="UTC")
    results.timings["total_seconds"] = round(time.perf_counter() - started_clock, 2)

    recorded = record_run(config, results)
    log.info("recorded %s", recorded)
    published = stages.publish_all(run)
    report = _report(config, results, log)
    create_artifacts(results, report)
    announced = emit_anomaly_events(results, new_events, report)
    if announced:
        log.info("emitted %d %s event(s)", announced, "candlecast.anomaly.detected")
    summary = run_summary(results, recorded, published, report)
    _raise_if_every_series_failed(results)
    return summary


def _report(config: Config, results: RunResults, log: Any) -> str | None:
    """The run's HTML report: a view of a recorded run, never a reason to fail it."""
    made = stages.done(render_report.submit(config, results))
    if made.error:
        log.warning("could not write the HTML report: %s", made.error)
    return made.value


def _raise_if_every_series_failed(results: RunResults) -> None:
    """A run in which every series failed is a failed flow run (a SourceError when every one
    failed to fetch: the CLI then names the offline way)."""
    if results.status != "failed":
        return
    failed = [s for s in results.series if s.error]
    message = "every series failed: " + "; ".join(
        s.error if s.error.startswith(s.id) else f"{s.id}: {s.error}" for s in failed if s.error
    )
    if all(s.failed_stage == "fetch" for s in failed):
        raise SourceError(message)
    raise CandlecastError(message)
