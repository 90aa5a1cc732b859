"""The `candlecast-forecast` flow: candles -> decomposition -> networks and baselines on the same
walk-forward folds -> champion with conformal intervals -> anomaly flags -> store -> publishers
-> Prefect artifacts.

It fans out per series and per (series, cell) through the flow's task runner. A series that
fails is reported and the others go on; the run then ends `partial`.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pandas as pd
from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.context import get_run_context
from prefect.states import Cancelled
from prefect.task_runners import TaskRunner, ThreadPoolTaskRunner

from candlecast.core.config import ENV_URLS, Config, available_cores, load_config
from candlecast.core.errors import CandlecastError, SourceError
from candlecast.core.pipeline.candidates import Candidate
from candlecast.core.pipeline.evaluate import choose_scope, evaluate, fold_spec, series_outcome
from candlecast.core.pipeline.networks import library_versions
from candlecast.core.pipeline.prepare import PreparedSeries
from candlecast.core.report.artifacts import series_artifact_key, series_markdown
from candlecast.core.report.summary import leaderboard_rows, run_markdown
from candlecast.core.results import ModelOutcome, RunResults, SeriesOutcome
from candlecast.flows import progress
from candlecast.flows.events import emit_anomaly_events
from candlecast.flows.locking import series_lease
from candlecast.flows.runtime import (
    config_hash,
    new_run_id,
    open_store,
    redacted_config,
    resolve_plugins,
)
from candlecast.flows.secret_refs import resolve_secrets
from candlecast.flows.tasks import (
    decompose_series,
    detect_anomalies,
    load_series,
    publish,
    record_run,
    render_report,
    run_baselines,
    size_tensorflow,
    sync_candles,
    train_global,
    train_network,
)

Mode = Literal["auto", "train", "forecast"]


def _error(exc: BaseException) -> str:
    if isinstance(exc, CandlecastError):
        return str(exc)
    if isinstance(exc, TimeoutError):  # a task's timeout_seconds (orchestration.train_timeout_s)
        return f"timed out: {exc} (orchestration.train_timeout_s)"
    return f"{type(exc).__name__}: {exc}"


def _result(future: Any) -> tuple[Any, str | None]:
    """(value, None) or (None, error message) without raising."""
    try:
        return future.result(), None
    except Exception as exc:
        return None, _error(exc)


@dataclass
class Gathered:
    """One series' finished candidates (or why it failed), before the champion is chosen."""

    series: PreparedSeries | None = None
    candidates: dict[str, Candidate] = field(default_factory=dict)
    network_outcomes: dict[str, ModelOutcome] = field(default_factory=dict)
    quality: dict[str, str] = field(default_factory=dict)
    error: str | None = None


def _gather(key, config, synced, prepared, networks, globals_, baselines) -> Gathered:
    """Collect a series' task results; a failed cell is noted, a failed stage fails the series."""
    g = Gathered()
    fetch, g.error = _result(synced[key])
    if g.error is not None:
        g.quality["failed_stage"] = "fetch"
        return g
    g.quality["fetch"] = fetch.summary()
    g.series, g.error = _result(prepared[key])
    if g.error is not None:
        return g
    failures = []
    for cell in config.model.cells:
        for name, future in (
            (cell.id, networks.get((key, cell.id))),
            (f"{cell.id}@global", globals_.get(cell.id)),
        ):
            if future is None:
                continue
            value, cell_error = _result(future)
            if cell_error:
                failures.append(f"{name}: {cell_error}")
                continue
            if name.endswith("@global"):
                value = value.get(str(key))
                if value is None:
                    continue
            g.candidates[name], g.network_outcomes[name] = value
    if failures:
        g.quality["model_failures"] = "; ".join(failures)
    base, g.error = _result(baselines[key])
    if g.error is None:
        g.candidates.update(base)
    return g


def resolve_config(config: Config | dict | None, config_path: str | None) -> Config:
    """The run's Config from a Config, a dict (a deployment's parameter) or a TOML path.

    A database URL given with a redacted password (`user:***@host`, as deployments store it)
    takes the real one from CANDLECAST_DATABASE_URL / CANDLECAST_SQL_URL on the machine that
    runs the flow: a password never travels in a deployment's parameters."""
    import os

    if isinstance(config, Config):
        resolved = config
    elif config is not None:
        resolved = Config.model_validate(config)
    else:
        resolved = load_config(Path(config_path) if config_path else None)
    for (section, key), variable in ENV_URLS.items():
        value = getattr(getattr(resolved, section), key)
        if value and ":***@" in value:
            secret = os.environ.get(variable)
            if not secret:
                raise CandlecastError(
                    f"{section}.{key} is {value!r} (password redacted): set {variable} to the "
                    "full URL on the machine that runs the flow"
                )
            resolved = resolved.model_copy(deep=True)
            setattr(getattr(resolved, section), key, secret)
    return resolve_secrets(resolved)  # secret:<block> references (flows/secret_refs.py)


# -- the task runner, TensorFlow threads and late runs (config.orchestration / config.schedule) --


def build_task_runner(config: Config) -> TaskRunner:
    """The task runner `orchestration` asks for: a thread pool (default), or Dask through
    prefect-dask: the cluster at `dask_address`, or a LocalCluster of `dask_workers` processes
    that each run `threads_per_worker` tasks at once. Nothing starts here."""
    orchestration = config.orchestration
    if orchestration.task_runner == "threads":
        return ThreadPoolTaskRunner(max_workers=orchestration.max_workers or available_cores())
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


def run_forecast(config: Config, mode: Mode = "auto", run_id: str | None = None) -> dict[str, Any]:
    """One run of `forecast_flow` with the task runner the configuration asks for (the CLI's
    and the benchmark's entry)."""
    runner = build_task_runner(config)
    return forecast_flow.with_options(task_runner=runner)(config=config, mode=mode, run_id=run_id)


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
        return Cancelled(message=late)
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
    """The body of `forecast_flow`, run while it holds the locks of its series."""
    if config.orchestration.task_runner == "threads":  # trainings run in this process
        size_tensorflow(config)  # its pools, before any training starts (Dask: in the workers)
    training_timeout = config.orchestration.train_timeout_s
    plugins = resolve_plugins(config)  # unknown plugins fail here, before any work
    plugins.source.check(config.source)  # unknown symbols, timeframes, missing files too
    store = open_store(config.storage.resolved_database_url)
    now = pd.Timestamp.now(tz="UTC")
    results = RunResults(
        run_id=run_id or new_run_id(now, config),
        started=now,
        config_hash=config_hash(config),
        config=redacted_config(config),
        versions=library_versions(),
    )
    keys = plugins.source.series(config.source)
    log.info("run %s: %d series, store %s", results.run_id, len(keys), store.display_url)

    synced = {key: sync_candles.submit(config, key) for key in keys}
    prepared = {key: load_series.submit(config, key, wait_for=[synced[key]]) for key in keys}
    scope = config.model.scope
    networks = {
        (key, cell.id): train_network.with_options(timeout_seconds=training_timeout).submit(
            config, prepared[key], cell, now, mode
        )
        for key in keys
        for cell in config.model.cells
        if scope in ("series", "both")
    }
    baselines = {key: run_baselines.submit(config, prepared[key]) for key in keys}
    decompositions = (
        {key: decompose_series.submit(config, prepared[key]) for key in keys}
        if config.anomalies.enabled
        else {}
    )
    globals_ = {}
    if scope in ("global", "both"):
        ready = {key: value for key in keys if (value := _result(prepared[key])[0]) is not None}
        if ready:
            globals_ = {
                cell.id: train_global.with_options(timeout_seconds=training_timeout).submit(
                    config, ready, cell, now, mode
                )
                for cell in config.model.cells
            }

    spec = fold_spec(config)
    gathered = {
        key: _gather(key, config, synced, prepared, networks, globals_, baselines) for key in keys
    }
    exclude, scope_reason = frozenset(), ""
    if scope == "both":
        boards = {
            key: evaluate(g.series, g.candidates, config, spec).board
            for key, g in gathered.items()
            if g.error is None
        }
        exclude, scope_reason = choose_scope(boards)
        log.info("scope: %s", scope_reason)
    new_events: dict[str, list] = {}  # anomaly events that started in this run, by series
    for key, g in gathered.items():
        outcome, error = SeriesOutcome(key=key, target=config.model.target), g.error
        if error is None:
            try:
                outcome = series_outcome(
                    g.series, g.candidates, g.network_outcomes, config, spec, exclude
                )
            except CandlecastError as exc:
                error = str(exc)
        outcome.quality.update(g.quality)
        if scope_reason:
            outcome.quality["scope"] = scope_reason
        if error is None and key in decompositions:
            outcome.decomposition, decomp_error = _result(decompositions[key])
            if decomp_error is None:
                flagged, flag_error = _result(
                    detect_anomalies.submit(config, g.series, outcome.decomposition, results.run_id)
                )
                if flag_error is None:
                    outcome.flags, outcome.events, new_events[outcome.id] = flagged
                else:
                    outcome.quality["anomalies"] = f"anomaly detection failed: {flag_error}"
            else:
                outcome.quality["decomposition"] = f"decomposition failed: {decomp_error}"
        if error is not None:
            outcome.error = error
            log.error("%s failed: %s", key, error)
            progress.emit(str(key), "failed", error)
        else:
            progress.emit(str(key), "done", f"champion {outcome.champion}")
        results.series.append(outcome)

    failed = [s for s in results.series if s.error]
    results.status = "failed" if len(failed) == len(keys) else "partial" if failed else "ok"
    results.finished = pd.Timestamp.now(tz="UTC")
    results.timings["total_seconds"] = round(time.perf_counter() - started_clock, 2)

    counts = record_run(config, results)
    log.info("recorded %s", counts)
    published = {name: publish.submit(config, results, name) for name in plugins.publishers}
    notes = {}
    for name, future in published.items():
        report, pub_error = _result(future)
        notes[name] = pub_error or report.note or f"{sum(report.rows.values())} rows"
        if pub_error:
            log.error("publisher %s failed: %s", name, pub_error)
            results.status = "partial" if results.status == "ok" else results.status
    report, report_error = _result(render_report.submit(config, results))
    if report_error:  # the report is a view of a recorded run: never fail the run on it
        log.warning("could not write the HTML report: %s", report_error)
    _artifacts(results, report)
    announced = emit_anomaly_events(results, new_events, report)
    if announced:
        log.info("emitted %d %s event(s)", announced, "candlecast.anomaly.detected")
    summary = {
        "run_id": results.run_id,
        "status": results.status,
        "series": {
            s.id: {
                "champion": s.champion,
                "reason": s.champion_reason,
                "error": s.error,
                "model_failures": s.quality.get("model_failures"),  # e.g. a training timeout
            }
            for s in results.series
        },
        "published": notes,
        "recorded": counts,
        "report": report,
    }
    if results.status == "failed":
        message = "every series failed: " + "; ".join(
            s.error if s.error.startswith(s.id) else f"{s.id}: {s.error}" for s in failed
        )
        if all(s.quality.get("failed_stage") == "fetch" for s in failed):
            raise SourceError(message)
        raise CandlecastError(message)
    return summary


def _artifacts(results: RunResults, report: str | None = None) -> None:
    """The run summary, the leaderboard and one summary per series in the Prefect UI, under
    stable keys."""
    link = Path(report).resolve().as_uri() if report else None
    try:
        create_markdown_artifact(
            key="candlecast-run-summary",
            markdown=run_markdown(results, link),
            description=f"candlecast run {results.run_id}",
        )
        for outcome in results.series:
            create_markdown_artifact(
                key=series_artifact_key(outcome.id),
                markdown=series_markdown(results, outcome, link),
                description=f"{outcome.id} in candlecast run {results.run_id}",
            )
        rows = leaderboard_rows(results)
        if rows:
            create_table_artifact(
                key="candlecast-leaderboard",
                table=rows,
                description=f"Backtest leaderboard of run {results.run_id}",
            )
    except Exception as exc:  # artifacts are a view; never fail a finished run on them
        logging.getLogger("candlecast.flow").warning("could not create artifacts: %s", exc)
