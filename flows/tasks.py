"""Prefect tasks: each a thin wrapper over one function of `core/pipeline/` (or a store or
plugin call). Retries only on I/O tasks.

Task results are never cached across runs (`NO_CACHE`), a deliberate choice: every input that
matters (the candles, the registry) lives in the database and changes with each scheduled run
(a new candle shifts every window, decomposition included), so a key of data hash + config hash
would only hit on a re-run with nothing new, while persisting every result (frames, networks) to
Prefect's result storage would cost disk and time on every run, on each machine separately. The
expensive reuse is already keyed that way one level down: the model registry reuses a network
whose data and configuration hashes fit (core/pipeline/networks.py).

Training tasks stop at `orchestration.train_timeout_s` (`core.models.deadline`: it counts from
the task's start, a wait for the process's training turn included, and the training stops itself
cleanly; the flow gives Prefect a later timeout only as a backstop); trainings in one
process take turns (`core.models.training.training_turn`: a reused model's load, forecasts and
backtest do not wait), and `runner.size_tensorflow` sizes TensorFlow's pools in whichever
process trains (the flow's, or a Dask worker's) before its first training.
"""

from __future__ import annotations

import pandas as pd
from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE
from sqlalchemy.exc import SQLAlchemyError

from candlecast.core.config import CellConfig, Config
from candlecast.core.decomposition import Decomposition
from candlecast.core.errors import (
    CandlecastError,
    ConfigError,
    DataError,
    ModelError,
    PluginError,
    StorageError,
)
from candlecast.core.market.candles import SeriesKey
from candlecast.core.market.fetch_report import FetchReport
from candlecast.core.market.timeframes import timeframe_offset
from candlecast.core.models.deadline import training_deadline
from candlecast.core.pipeline.candidates import (
    Candidate,
    baseline_candidates,
    global_candidates,
    network_candidate,
)
from candlecast.core.pipeline.flagging import Detection
from candlecast.core.pipeline.plan import SeriesPlan
from candlecast.core.pipeline.prepare import PreparedSeries
from candlecast.core.results import ModelOutcome, RunResults
from candlecast.flows import progress
from candlecast.flows.runner import size_tensorflow
from candlecast.flows.runtime import open_store, resolve_plugins
from candlecast.plugins.manager import get_host
from candlecast.plugins.publishers.base import PublishReport

IO_RETRIES = 3
IO_DELAYS = [2, 10, 30]


def transient(task, task_run, state) -> bool:
    """Retry what may pass (a database or exchange away, a full disk being cleaned), not bad
    input: a ConfigError, DataError, PluginError or ModelError fails the same way every time."""
    try:
        exc = state.result(raise_on_failure=False)
    except Exception:
        return True
    return not isinstance(exc, ConfigError | DataError | PluginError | ModelError)


def error_text(exc: BaseException) -> str:
    """What a failed task says in the run's notes and summary."""
    if isinstance(exc, CandlecastError):
        return str(exc)
    if isinstance(exc, TimeoutError):  # a training's deadline, or its task's backstop timeout
        return f"timed out: {exc} (orchestration.train_timeout_s)"
    return f"{type(exc).__name__}: {exc}"


IO_RETRY = {
    "retries": IO_RETRIES,
    "retry_delay_seconds": IO_DELAYS,
    "retry_condition_fn": transient,
}


@task(name="sync-candles", **IO_RETRY, cache_policy=NO_CACHE)
def sync_candles(config: Config, key: SeriesKey) -> FetchReport:
    """Bring the candle store up to date for one series (source plugin)."""
    progress.emit(str(key), "fetch", "syncing candles")
    source = resolve_plugins(config).source
    store = open_store(config.storage.resolved_database_url)
    report = source.sync(config.source, key, store.candles)
    progress.emit(str(key), "fetch", f"{report.new_candles} new candles")
    return report


@task(name="prepare-series", **IO_RETRY, cache_policy=NO_CACHE)
def load_series(config: Config, plan: SeriesPlan, key: SeriesKey) -> PreparedSeries:
    """The plan's history window from the store, gaps filled."""
    from candlecast.core.pipeline.prepare import load_series as load

    store = open_store(config.storage.resolved_database_url)
    return load(store.candles, key, plan)


@task(name="decompose", cache_policy=NO_CACHE)
def decompose_series(plan: SeriesPlan, prepared: PreparedSeries) -> Decomposition:
    """The decomposition the detectors score and the report shows (once per series)."""
    from candlecast.core.pipeline.decompose import decompose_series as decompose

    progress.emit(str(prepared.key), "decompose")
    return decompose(prepared, plan)


@task(name="realised-coverage", **IO_RETRY, cache_policy=NO_CACHE)
def track_published(
    config: Config, plan: SeriesPlan, prepared: PreparedSeries
) -> dict[str, pd.DataFrame | None]:
    """How the forecasts earlier runs published for each target did, by level."""
    from candlecast.core.pipeline.realised import WINDOW, published_coverage

    store = open_store(config.storage.resolved_database_url)
    series = str(prepared.key)
    since = prepared.frame.index[-1] - WINDOW if len(prepared.frame) else None
    return {
        target: published_coverage(
            store.runs.forecasts_for(series, since=since, target=target), prepared.frame, target
        )
        for target in plan.targets
    }


@task(name="network", cache_policy=NO_CACHE)
def train_network(
    config: Config,
    plan: SeriesPlan,
    prepared: PreparedSeries,
    target: str,
    cell: CellConfig,
    now: pd.Timestamp,
    mode: str,
) -> tuple[Candidate, ModelOutcome]:
    """Backtest one cell on one target of a series (training or reusing its model), and
    forecast."""
    size_tensorflow(config)
    store = open_store(config.storage.resolved_database_url)
    stage = f"{target}/{cell.id}"
    progress.emit(str(prepared.key), stage, "training / backtesting")
    with training_deadline(config.orchestration.train_timeout_s):
        candidate, outcome = network_candidate(
            prepared,
            target,
            cell,
            get_host().get("cells"),
            config,
            store.registry,
            plan.folds,
            now,
            mode,
        )
    progress.emit(str(prepared.key), stage, outcome.note or "done")
    return candidate, outcome


@task(name="networks", cache_policy=NO_CACHE)
def reuse_networks(
    config: Config,
    plan: SeriesPlan,
    prepared: PreparedSeries,
    cells: list[tuple[str, CellConfig]],
    now: pd.Timestamp,
    mode: str,
) -> dict[tuple[str, str], tuple[Candidate, ModelOutcome] | str]:
    """The (target, cell) networks of one series that are expected to reuse their registered
    models, one after another in one task: each is a load and a short batched forecast, less
    work than a task's own bookkeeping (on a Dask worker, more so). Each gives what
    `train_network` gives, or the error it failed with (`error_text`: plain text, which any
    task runner carries back); one that has to train after all (the registry changed, its
    errors drifted) trains here, within its own deadline."""
    done: dict[tuple[str, str], tuple[Candidate, ModelOutcome] | str] = {}
    for target, cell in cells:
        try:
            done[(target, cell.id)] = train_network.fn(
                config, plan, prepared, target, cell, now, mode
            )
        except Exception as exc:  # the others go on; the flow records it on this network
            done[(target, cell.id)] = error_text(exc)
    return done


@task(name="global-network", cache_policy=NO_CACHE)
def train_global(
    config: Config,
    plan: SeriesPlan,
    prepared: dict[SeriesKey, PreparedSeries],
    target: str,
    cell: CellConfig,
    now: pd.Timestamp,
    mode: str,
) -> dict[str, tuple[Candidate, ModelOutcome]]:
    """One network for the cell and target on every series at once (model.scope
    global/both)."""
    size_tensorflow(config)
    store = open_store(config.storage.resolved_database_url)
    progress.emit("universe", f"{target}/{cell.id}@global", f"training on {len(prepared)} series")
    with training_deadline(config.orchestration.train_timeout_s):
        return global_candidates(
            {str(key): item for key, item in prepared.items()},
            target,
            cell,
            get_host().get("cells"),
            config,
            store.registry,
            plan.folds,
            now,
            mode,
        )


@task(name="baselines", cache_policy=NO_CACHE)
def run_baselines(
    config: Config, plan: SeriesPlan, prepared: PreparedSeries, target: str
) -> dict[str, Candidate]:
    from candlecast.core.storage.fit_store import FitStore

    progress.emit(str(prepared.key), f"{target}/baselines")
    store = open_store(config.storage.resolved_database_url)
    return baseline_candidates(prepared, target, config, plan.folds, FitStore(store.engine))


@task(name="detect-anomalies", cache_policy=NO_CACHE)
def detect_anomalies(
    config: Config,
    plan: SeriesPlan,
    prepared: PreparedSeries,
    decomposition: Decomposition,
    run_id: str,
) -> Detection:
    """Flag the candles that arrived since the last run; continue events left open."""
    from candlecast.core.pipeline.flagging import flag_series, flag_since

    progress.emit(str(prepared.key), "anomalies")
    store = open_store(config.storage.resolved_database_url)
    detectors = resolve_plugins(config).detectors
    series = str(prepared.key)
    window = plan.anomaly_window(prepared.frame)
    first = window.index[0] - timeframe_offset(prepared.key.timeframe) if len(window) else None
    detection = flag_series(
        series,
        prepared.key.timeframe,
        window,
        decomposition,
        detectors,
        since=flag_since(store.runs.last_origin(series), detectors, prepared.key.timeframe),
        forecasts=store.runs.forecasts_for(series, since=first, latest=True),
        open_events=store.anomalies.open_events(series),
        target_fpr=config.anomalies.target_fpr,
        merge=config.anomalies.merge,
    )
    if detection.recorded_only:
        get_run_logger().info(
            "%s: recorded %d anomaly event(s) of its history without announcing them (a "
            "series' first run announces only events in its newest candles)",
            series,
            len(detection.recorded_only),
        )
    return detection


@task(name="record-run", **IO_RETRY, cache_policy=NO_CACHE)
def record_run(config: Config, results: RunResults) -> dict[str, int]:
    """Write the run, forecasts, intervals, metrics and flags to the store: one transaction."""
    store = open_store(config.storage.resolved_database_url)
    try:
        with store.engine.begin() as conn:
            counts = store.runs.record(results, conn)
            counts |= store.anomalies.record(results, conn)
    except SQLAlchemyError as exc:  # rolled back: nothing of this run is stored
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        raise StorageError(
            f"could not record run {results.run_id} in database {store.display_url} "
            f"({type(exc).__name__}: {reason}); the transaction was rolled back, nothing of "
            "this run is stored or published"
        ) from None
    return counts


@task(name="publish", **IO_RETRY, cache_policy=NO_CACHE)
def publish(config: Config, results: RunResults, name: str) -> PublishReport:
    publisher = get_host().resolve("publishers", [name])[name]
    return publisher.publish(results, config)


@task(name="render-report", cache_policy=NO_CACHE)
def render_report(config: Config, results: RunResults) -> str:
    """The run's HTML report and the runs index in `storage.reports_dir` (default
    `<data_home>/reports/`; a folder or an fsspec URL); returns the report's path or URL."""
    from candlecast.core.pipeline.rebuild import index_entries
    from candlecast.core.report import publish_report

    store = open_store(config.storage.resolved_database_url)
    folder = config.storage.reports
    return str(publish_report(results, folder, index_entries(store.engine)))
