"""The stages of one flow run, in order; `forecast.py` calls them one after the other.

Each stage takes the typed result of the one before: the series' submitted tasks
(`SeriesTasks`), each series' gathered candidates (`Gathered`), the evaluated outcomes
(`SeriesOutcome`), their anomaly flags. A task that fails for one series, cell or detector is
recorded where it failed (the series' `error` and `failed_stage`, the model's `error`, a note)
and the others go on.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import pandas as pd
from prefect.futures import PrefectFuture

from candlecast.core.anomalies.flag import AnomalyEvent
from candlecast.core.config import Config
from candlecast.core.decomposition import Decomposition
from candlecast.core.errors import CandlecastError
from candlecast.core.market.candles import SeriesKey
from candlecast.core.market.fetch_report import FetchReport
from candlecast.core.pipeline.candidates import Candidate, global_label
from candlecast.core.pipeline.evaluate import choose_scope, evaluate, series_outcome
from candlecast.core.pipeline.plan import SeriesPlan
from candlecast.core.pipeline.prepare import PreparedSeries
from candlecast.core.pipeline.registration import library_versions
from candlecast.core.results import ModelOutcome, RunResults, SeriesOutcome, Stage
from candlecast.core.storage.store import Store
from candlecast.flows import progress
from candlecast.flows.runner import size_tensorflow
from candlecast.flows.runtime import Plugins, config_hash, open_store, redacted_config
from candlecast.flows.runtime import resolve_plugins as plugins_of
from candlecast.flows.tasks import (
    decompose_series,
    detect_anomalies,
    load_series,
    publish,
    run_baselines,
    sync_candles,
    train_global,
    train_network,
)

T = TypeVar("T")


def error_text(exc: BaseException) -> str:
    """What a failed task says in the run's notes and summary."""
    if isinstance(exc, CandlecastError):
        return str(exc)
    if isinstance(exc, TimeoutError):  # a task's timeout_seconds (orchestration.train_timeout_s)
        return f"timed out: {exc} (orchestration.train_timeout_s)"
    return f"{type(exc).__name__}: {exc}"


@dataclass
class Done(Generic[T]):
    """A finished task: its value, or why it failed."""

    value: T | None
    error: str | None


def done(future: PrefectFuture[T]) -> Done[T]:
    """The future's value or its error message, without raising."""
    try:
        return Done(future.result(), None)
    except Exception as exc:
        return Done(None, error_text(exc))


@dataclass
class Run:
    """What every stage of one run shares."""

    config: Config
    plan: SeriesPlan
    mode: str
    plugins: Plugins
    store: Store
    results: RunResults
    keys: list[SeriesKey]
    log: Any


def begin_run(config: Config, mode: str, run_id: str, log: Any) -> Run:
    """The plan, the plugins and the store, checked before any work: a bad layout, an unknown
    plugin, symbol or timeframe, a missing file fail here."""
    if config.orchestration.task_runner == "threads":  # trainings run in this process
        size_tensorflow(config)  # its pools, before any training starts (Dask: in the workers)
    plan = SeriesPlan.from_config(config)
    plugins = plugins_of(config)
    plugins.source.check(config.source)
    store = open_store(config.storage.resolved_database_url)
    results = RunResults(
        run_id=run_id,
        started=pd.Timestamp.now(tz="UTC"),
        config_hash=config_hash(config),
        config=redacted_config(config),
        versions=library_versions(),
    )
    keys = plugins.source.series(config.source)
    log.info("run %s: %d series, store %s", run_id, len(keys), store.display_url)
    return Run(config, plan, mode, plugins, store, results, keys, log)


@dataclass
class SeriesTasks:
    """One series' submitted tasks."""

    synced: PrefectFuture[FetchReport]
    prepared: PrefectFuture[PreparedSeries]
    networks: dict[str, PrefectFuture] = field(default_factory=dict)  # by cell id
    baselines: PrefectFuture[dict[str, Candidate]] | None = None
    decomposed: PrefectFuture[Decomposition] | None = None


def submit_series(run: Run) -> dict[SeriesKey, SeriesTasks]:
    """Every series' fetch, load, per-series networks, baselines and decomposition."""
    config, plan, now = run.config, run.plan, run.results.started
    tasks = {}
    for key in run.keys:
        synced = sync_candles.submit(config, key)
        tasks[key] = SeriesTasks(synced, load_series.submit(config, plan, key, wait_for=[synced]))
    if config.model.scope in ("series", "both"):
        training = train_network.with_options(timeout_seconds=config.orchestration.train_timeout_s)
        for series in tasks.values():
            series.networks = {
                cell.id: training.submit(config, plan, series.prepared, cell, now, run.mode)
                for cell in config.model.cells
            }
    for series in tasks.values():
        series.baselines = run_baselines.submit(config, plan, series.prepared)
        series.decomposed = decompose_series.submit(plan, series.prepared)
    return tasks


def submit_globals(run: Run, tasks: dict[SeriesKey, SeriesTasks]) -> dict[str, PrefectFuture]:
    """With `model.scope` global or both: one network per cell on every loaded series."""
    config = run.config
    if config.model.scope not in ("global", "both"):
        return {}
    ready = {key: value for key, t in tasks.items() if (value := done(t.prepared).value)}
    if not ready:
        return {}
    training = train_global.with_options(timeout_seconds=config.orchestration.train_timeout_s)
    return {
        cell.id: training.submit(config, run.plan, ready, cell, run.results.started, run.mode)
        for cell in config.model.cells
    }


@dataclass
class Gathered:
    """One series' finished candidates, or the stage at which it failed, before the champion
    is chosen. `networks` holds every network's outcome, failed ones with their error."""

    key: SeriesKey
    fetch: FetchReport | None = None
    series: PreparedSeries | None = None
    candidates: dict[str, Candidate] = field(default_factory=dict)
    networks: dict[str, ModelOutcome] = field(default_factory=dict)
    failed_stage: Stage | None = None
    error: str | None = None


def gather(run: Run, key: SeriesKey, tasks: SeriesTasks, globals_: dict) -> Gathered:
    """Collect a series' task results: a failed cell is recorded with its error, a failed
    fetch, load or baseline stage fails the series."""
    g = Gathered(key)
    fetched, prepared = done(tasks.synced), done(tasks.prepared)
    g.fetch, g.series = fetched.value, prepared.value
    if fetched.error or prepared.error:
        g.failed_stage = "fetch" if fetched.error else "prepare"
        g.error = fetched.error or prepared.error
        return g
    for cell in run.config.model.cells:
        for name, future in (
            (cell.id, tasks.networks.get(cell.id)),
            (global_label(cell), globals_.get(cell.id)),
        ):
            if future is None:
                continue
            finished = done(future)
            value = finished.value
            if name == global_label(cell) and value is not None:
                value = value.get(str(key))
                if value is None:  # the global network did not cover this series
                    continue
            if finished.error:
                g.networks[name] = ModelOutcome(model=name, family="network", error=finished.error)
                continue
            g.candidates[name], g.networks[name] = value
    baselines = done(tasks.baselines)
    if baselines.error:
        g.failed_stage, g.error = "baselines", baselines.error
    else:
        g.candidates.update(baselines.value or {})
    return g


def choose_scope_of(run: Run, gathered: dict[SeriesKey, Gathered]) -> tuple[frozenset[str], str]:
    """With `model.scope = "both"`: the scope whose networks win across the universe (the
    other's stay on the leaderboards, off the champion's seat), and why."""
    if run.config.model.scope != "both":
        return frozenset(), ""
    boards = {
        key: evaluate(g.series, g.candidates, run.config).board
        for key, g in gathered.items()
        if g.error is None and g.series is not None
    }
    exclude, reason = choose_scope(boards)
    run.log.info("scope: %s", reason)
    return exclude, reason


def evaluate_series(
    run: Run, g: Gathered, exclude: frozenset[str], scope_reason: str
) -> SeriesOutcome:
    """The series' leaderboard, champion and forecasts; its failed models and notes."""
    outcome = SeriesOutcome(key=g.key, target=run.config.model.target)
    error, stage = g.error, g.failed_stage
    if error is None and g.series is not None:
        try:
            outcome = series_outcome(g.series, g.candidates, g.networks, run.config, exclude)
        except CandlecastError as exc:
            error, stage = str(exc), "evaluate"
    outcome.models |= {name: m for name, m in g.networks.items() if m.error}
    if g.fetch is not None:
        outcome.quality["fetch"] = g.fetch.summary()
    if scope_reason:
        outcome.quality["scope"] = scope_reason
    outcome.error, outcome.failed_stage = error, stage
    if error is not None:
        run.log.error("%s failed: %s", g.key, error)
        progress.emit(str(g.key), "failed", error)
    else:
        progress.emit(str(g.key), "done", f"champion {outcome.champion}")
    return outcome


def detect(
    run: Run,
    gathered: dict[SeriesKey, Gathered],
    outcomes: dict[SeriesKey, SeriesOutcome],
    tasks: dict[SeriesKey, SeriesTasks],
) -> dict[str, list[AnomalyEvent]]:
    """Attach each series' decomposition (always), then flag every series at once (when
    anomaly detection is on). Returns the events that started in this run, by series id."""
    submitted = {}
    for key, outcome in outcomes.items():
        if outcome.error is not None or tasks[key].decomposed is None:
            continue
        decomposed = done(tasks[key].decomposed)
        if decomposed.error:
            outcome.quality["decomposition"] = f"decomposition failed: {decomposed.error}"
            continue
        outcome.decomposition = decomposed.value
        if run.config.anomalies.enabled:
            submitted[key] = detect_anomalies.submit(
                run.config, run.plan, gathered[key].series, decomposed.value, run.results.run_id
            )
    new_events: dict[str, list[AnomalyEvent]] = {}
    for key, future in submitted.items():
        outcome, detection = outcomes[key], done(future)
        if detection.error or detection.value is None:
            outcome.quality["anomalies"] = f"anomaly detection failed: {detection.error}"
            continue
        outcome.flags, outcome.events = detection.value.flags, detection.value.events
        new_events[outcome.id] = detection.value.new_events
    return new_events


def settle_status(results: RunResults, series: int) -> None:
    """`ok`, `partial` (some series failed) or `failed` (every one did)."""
    failed = sum(1 for s in results.series if s.error)
    results.status = "failed" if failed == series else "partial" if failed else "ok"
    results.finished = pd.Timestamp.now(tz="UTC")


def publish_all(run: Run) -> dict[str, str]:
    """Every configured publisher, at once; a failure makes an `ok` run `partial`."""
    futures = {
        name: publish.submit(run.config, run.results, name) for name in run.plugins.publishers
    }
    notes = {}
    for name, future in futures.items():
        published = done(future)
        if published.error or published.value is None:
            notes[name] = published.error or "no report"
            run.log.error("publisher %s failed: %s", name, published.error)
            if run.results.status == "ok":
                run.results.status = "partial"
            continue
        report = published.value
        notes[name] = report.note or f"{sum(report.rows.values())} rows"
    return notes
