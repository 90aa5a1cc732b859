"""Prefect tasks: each a thin wrapper over one core function. Retries only on I/O tasks.

Task results are never cached across runs (`NO_CACHE`), a deliberate choice: every input that
matters (the candles, the registry) lives in the database and changes with each scheduled run
(a new candle shifts every window, decomposition included), so a key of data hash + config hash
would only hit on a re-run with nothing new, while persisting every result (frames, networks) to
Prefect's result storage would cost disk and time on every run, on each machine separately. The
expensive reuse is already keyed that way one level down: the model registry reuses a network
whose data and configuration hashes fit (core/pipeline/networks.py).

Training tasks get `orchestration.train_timeout_s` as their Prefect timeout (set by the flow; it
counts from the task's start, a wait for the process's training turn included); trainings in one
process take turns (`training_turn()`), and `size_tensorflow` sizes TensorFlow's pools in
whichever process trains (the flow's, or a Dask worker's) before its first training.
"""

from __future__ import annotations

import logging
import threading

import pandas as pd
from prefect import task
from prefect.cache_policies import NO_CACHE
from sqlalchemy.exc import SQLAlchemyError

from candlecast.core.config import CellConfig, Config
from candlecast.core.errors import ConfigError, DataError, ModelError, PluginError, StorageError
from candlecast.core.market.candles import SeriesKey
from candlecast.core.pipeline.candidates import (
    Candidate,
    baseline_candidates,
    global_candidates,
    network_candidate,
)
from candlecast.core.pipeline.evaluate import fold_spec
from candlecast.core.pipeline.prepare import PreparedSeries, history_start, prepare_series
from candlecast.core.results import ModelOutcome, RunResults
from candlecast.flows import progress
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


IO_RETRY = {
    "retries": IO_RETRIES,
    "retry_delay_seconds": IO_DELAYS,
    "retry_condition_fn": transient,
}


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


# TensorFlow's and Keras' seeds are process-wide (Python, NumPy and TensorFlow's global seed):
# two trainings at once in one process draw from the same generators, and the run is no longer
# reproducible. So trainings in one process take turns; trainings in parallel are Dask's job
# (one per worker process). Other tasks (fetching, baselines, decomposition) are not held back.
_TRAINING_TURN = threading.Lock()


def training_turn() -> threading.Lock:
    """This process's training turn. (Tasks reach it through this function: a task's function
    travels to Dask workers by value, and a lock cannot be pickled.)"""
    return _TRAINING_TURN


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


@task(name="sync-candles", **IO_RETRY, cache_policy=NO_CACHE)
def sync_candles(config: Config, key: SeriesKey):
    """Bring the candle store up to date for one series (source plugin)."""
    progress.emit(str(key), "fetch", "syncing candles")
    source = resolve_plugins(config).source
    store = open_store(config.storage.resolved_database_url)
    report = source.sync(config.source, key, store.candles)
    progress.emit(str(key), "fetch", f"{report.new_candles} new candles")
    return report


@task(name="prepare-series", **IO_RETRY, cache_policy=NO_CACHE)
def load_series(config: Config, key: SeriesKey) -> PreparedSeries:
    """Load the history window from the store, fill gaps, pick the target."""
    store = open_store(config.storage.resolved_database_url)
    last = store.candles.last_timestamp(key)
    start = history_start(config, last) if last is not None else None
    return prepare_series(store.candles.load(key, start=start), key, config)


@task(name="decompose", cache_policy=NO_CACHE)
def decompose_series(config: Config, prepared: PreparedSeries):
    from candlecast.core.decomposition import decompose_candles

    progress.emit(str(prepared.key), "decompose")
    tail = anomaly_window(config, prepared)
    return decompose_candles(tail, prepared.key.timeframe)


def anomaly_window(config: Config, prepared: PreparedSeries) -> pd.DataFrame:
    start = prepared.origin - pd.Timedelta(days=config.anomalies.lookback_days)
    return prepared.frame[prepared.frame.index > start]


@task(name="network", cache_policy=NO_CACHE)
def train_network(
    config: Config, prepared: PreparedSeries, cell: CellConfig, now: pd.Timestamp, mode: str
) -> tuple[Candidate, ModelOutcome]:
    """Backtest one cell on one series (training or reusing its model), and forecast."""
    size_tensorflow(config)
    store = open_store(config.storage.resolved_database_url)
    with training_turn():
        progress.emit(str(prepared.key), cell.id, "training / backtesting")
        candidate, outcome = network_candidate(
            prepared,
            cell,
            get_host().get("cells"),
            config,
            store.registry,
            fold_spec(config),
            now,
            mode,
        )
    progress.emit(str(prepared.key), cell.id, outcome.note or "done")
    return candidate, outcome


@task(name="global-network", cache_policy=NO_CACHE)
def train_global(
    config: Config,
    prepared: dict[SeriesKey, PreparedSeries],
    cell: CellConfig,
    now: pd.Timestamp,
    mode: str,
) -> dict[str, tuple[Candidate, ModelOutcome]]:
    """One network for the cell on every series at once (model.scope global/both)."""
    size_tensorflow(config)
    store = open_store(config.storage.resolved_database_url)
    with training_turn():
        progress.emit("universe", f"{cell.id}@global", f"training on {len(prepared)} series")
        return global_candidates(
            {str(key): item for key, item in prepared.items()},
            cell,
            get_host().get("cells"),
            config,
            store.registry,
            fold_spec(config),
            now,
            mode,
        )


@task(name="baselines", cache_policy=NO_CACHE)
def run_baselines(config: Config, prepared: PreparedSeries) -> dict[str, Candidate]:
    progress.emit(str(prepared.key), "baselines")
    return baseline_candidates(prepared, config, fold_spec(config))


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


@task(name="detect-anomalies", cache_policy=NO_CACHE)
def detect_anomalies(config: Config, prepared: PreparedSeries, decomposition, run_id: str):
    """Flag the candles that arrived since the last run; continue events left open."""
    from candlecast.core.pipeline.flagging import flag_series, flag_since

    progress.emit(str(prepared.key), "anomalies")
    store = open_store(config.storage.resolved_database_url)
    detectors = resolve_plugins(config).detectors
    series = str(prepared.key)
    tail = anomaly_window(config, prepared)
    return flag_series(
        series,
        prepared.key.timeframe,
        tail,
        decomposition,
        detectors,
        since=flag_since(store.runs.last_origin(series), detectors, prepared.key.timeframe),
        forecasts=store.runs.forecasts_for(series),
        open_events=store.anomalies.open_events(series),
        target_fpr=config.anomalies.target_fpr,
    )


@task(name="render-report", cache_policy=NO_CACHE)
def render_report(config: Config, results: RunResults) -> str:
    """The run's HTML report and the runs index under `<data_home>/reports/`; returns the
    report's path."""
    from candlecast.core.report import (
        add_missing_decompositions,
        index_entries,
        publish_report,
        reports_dir,
    )

    store = open_store(config.storage.resolved_database_url)
    add_missing_decompositions(results, config.anomalies.lookback_days)
    folder = reports_dir(config.storage.data_home)
    return str(publish_report(results, folder, index_entries(store.engine)))
