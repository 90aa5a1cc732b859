"""Prefect tasks: each a thin wrapper over one core function. Retries only on I/O tasks.

Task results are never cached across runs (`NO_CACHE`): every input that matters (candles,
registry state) lives in the database and changes between runs.
"""

from __future__ import annotations

import pandas as pd
from prefect import task
from prefect.cache_policies import NO_CACHE

from candlecast.core.candidates import Candidate, baseline_candidates, network_candidate
from candlecast.core.candles import SeriesKey
from candlecast.core.config import CellConfig, Config
from candlecast.core.evaluate import fold_spec
from candlecast.core.prepare import PreparedSeries, history_start, prepare_series
from candlecast.core.results import ModelOutcome, RunResults
from candlecast.flows import progress
from candlecast.flows.runtime import open_store, resolve_plugins
from candlecast.plugins.manager import get_host
from candlecast.plugins.publishers.base import PublishReport

IO_RETRIES = 3
IO_DELAYS = [2, 10, 30]


@task(name="sync-candles", retries=IO_RETRIES, retry_delay_seconds=IO_DELAYS, cache_policy=NO_CACHE)
def sync_candles(config: Config, key: SeriesKey):
    """Bring the candle store up to date for one series (source plugin)."""
    progress.emit(str(key), "fetch", "syncing candles")
    source = resolve_plugins(config).source
    store = open_store(config.storage.resolved_database_url)
    report = source.sync(config.source, key, store.candles)
    progress.emit(str(key), "fetch", f"{report.new_candles} new candles")
    return report


@task(
    name="prepare-series", retries=IO_RETRIES, retry_delay_seconds=IO_DELAYS, cache_policy=NO_CACHE
)
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
    progress.emit(str(prepared.key), cell.id, "training / backtesting")
    store = open_store(config.storage.resolved_database_url)
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


@task(name="baselines", cache_policy=NO_CACHE)
def run_baselines(config: Config, prepared: PreparedSeries) -> dict[str, Candidate]:
    progress.emit(str(prepared.key), "baselines")
    return baseline_candidates(prepared, config, fold_spec(config))


@task(name="record-run", retries=IO_RETRIES, retry_delay_seconds=IO_DELAYS, cache_policy=NO_CACHE)
def record_run(config: Config, results: RunResults) -> dict[str, int]:
    """Write the run, forecasts, intervals, metrics and flags to the store: one transaction."""
    store = open_store(config.storage.resolved_database_url)
    with store.engine.begin() as conn:
        counts = store.runs.record(results, conn)
        counts |= store.anomalies.record(results, conn)
    return counts


@task(name="publish", retries=IO_RETRIES, retry_delay_seconds=IO_DELAYS, cache_policy=NO_CACHE)
def publish(config: Config, results: RunResults, name: str) -> PublishReport:
    publisher = get_host().resolve("publishers", [name])[name]
    return publisher.publish(results, config)


@task(name="detect-anomalies", cache_policy=NO_CACHE)
def detect_anomalies(config: Config, prepared: PreparedSeries, decomposition, run_id: str):
    """Flag the candles that arrived since the last run; continue events left open."""
    from candlecast.core.flagging import flag_series, flag_since

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
