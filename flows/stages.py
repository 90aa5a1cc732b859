"""The stages of one flow run, in order; `forecast.py` calls them one after the other.

Each stage takes the typed result of the one before: the series' submitted tasks
(`SeriesTasks`), each series' gathered candidates (`Gathered`), the evaluated outcomes
(`SeriesOutcome`), their anomaly flags. A task that fails for one series, cell or detector is
recorded where it failed (the series' `error` and `failed_stage`, the model's `error`, a note)
and the others go on.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

import pandas as pd
from prefect.futures import PrefectFuture

from candlecast.core.anomalies.flag import AnomalyEvent
from candlecast.core.config import Config
from candlecast.core.decomposition import Decomposition
from candlecast.core.errors import CandlecastError
from candlecast.core.market.candles import SeriesKey
from candlecast.core.market.fetch_report import FetchReport
from candlecast.core.models.cache import MODELS
from candlecast.core.models.deadline import backstop_seconds
from candlecast.core.pipeline.candidates import Candidate, global_label
from candlecast.core.pipeline.evaluate import choose_scope, evaluate, target_outcome
from candlecast.core.pipeline.plan import SeriesPlan
from candlecast.core.pipeline.prepare import PreparedSeries
from candlecast.core.pipeline.registration import library_versions
from candlecast.core.pipeline.retraining import expects_reuse
from candlecast.core.results import ModelOutcome, RunResults, SeriesOutcome, Stage, TargetOutcome
from candlecast.core.storage.store import Store
from candlecast.flows import progress
from candlecast.flows.runner import size_tensorflow
from candlecast.flows.runtime import Plugins, config_hash, open_store, redacted_config
from candlecast.flows.runtime import resolve_plugins as plugins_of
from candlecast.flows.tasks import (
    decompose_series,
    detect_anomalies,
    error_text,
    load_series,
    publish,
    reuse_networks,
    run_baselines,
    sync_candles,
    track_published,
    train_global,
    train_network,
)

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)


@dataclass
class Done(Generic[T]):
    """A finished task: its value, or why it failed."""

    value: T | None
    error: str | None


class Resolvable(Protocol[T_co]):
    """A task's future, or a share of one (`Share`)."""

    def result(self) -> T_co: ...


def done(future: Resolvable[T]) -> Done[T]:
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
    MODELS.reserve(networks_of(config, len(keys), len(plan.targets)))
    log.info("run %s: %d series, store %s", run_id, len(keys), store.display_url)
    return Run(config, plan, mode, plugins, store, results, keys, log)


def networks_of(config: Config, series: int, targets: int) -> int:
    """How many registered networks one run uses: per target and cell, one per series
    (`model.scope` series or both) and one for the universe (global or both)."""
    scope = config.model.scope
    per_cell = (series if scope in ("series", "both") else 0) + (scope in ("global", "both"))
    return per_cell * len(config.model.cells) * targets


@dataclass
class SeriesTasks:
    """One series' submitted tasks; networks by (target, cell id), baselines by target."""

    synced: PrefectFuture[FetchReport]
    prepared: PrefectFuture[PreparedSeries]
    networks: dict[tuple[str, str], PrefectFuture | Share] = field(default_factory=dict)
    baselines: dict[str, PrefectFuture[dict[str, Candidate]]] = field(default_factory=dict)
    decomposed: PrefectFuture[Decomposition] | None = None
    realised: PrefectFuture[dict] | None = None


def submit_series(run: Run) -> dict[SeriesKey, SeriesTasks]:
    """Every series' fetch and load; per target its networks and baselines; its
    decomposition."""
    config, plan = run.config, run.plan
    tasks = {}
    for key in run.keys:
        synced = sync_candles.submit(config, key)
        tasks[key] = SeriesTasks(synced, load_series.submit(config, plan, key, wait_for=[synced]))
    if config.model.scope in ("series", "both"):
        for key, series in tasks.items():
            series.networks = submit_networks(run, key, series.prepared)
    for series in tasks.values():
        series.baselines = {
            target: run_baselines.submit(config, plan, series.prepared, target)
            for target in plan.targets
        }
        series.decomposed = decompose_series.submit(plan, series.prepared)
        series.realised = track_published.submit(config, plan, series.prepared)
    return tasks


def submit_networks(
    run: Run, key: SeriesKey, prepared: PrefectFuture[PreparedSeries]
) -> dict[tuple[str, str], PrefectFuture | Share]:
    """A series' networks, by (target, cell id): one task per network that will train (they
    spread over the workers), and one task for all those expected to reuse their registered
    models (`expects_reuse`): a reused network's work is a load and a short forecast, smaller
    than a task's own bookkeeping."""
    config, plan, now = run.config, run.plan, run.results.started
    timeout = config.orchestration.train_timeout_s
    pairs = [(target, cell) for target in plan.targets for cell in config.model.cells]
    reused = [
        (target, cell)
        for target, cell in pairs
        if expects_reuse(config, run.store.registry, key, cell, target, now, run.mode)
    ]
    shared = {(target, cell.id) for target, cell in reused}
    training = train_network.with_options(timeout_seconds=backstop_seconds(timeout))
    networks: dict[tuple[str, str], PrefectFuture | Share] = {
        (target, cell.id): training.submit(config, plan, prepared, target, cell, now, run.mode)
        for target, cell in pairs
        if (target, cell.id) not in shared
    }
    if reused:
        # each may still have to train (a drift): the backstop covers that many deadlines
        backstop = backstop_seconds(None if timeout is None else timeout * len(reused))
        group = reuse_networks.with_options(timeout_seconds=backstop).submit(
            config, plan, prepared, reused, now, run.mode
        )
        networks |= {pair: Share(group, pair) for pair in shared}
    return networks


@dataclass
class Share:
    """One network's part of the series' `reuse_networks` task: its result, or the error it
    failed with (raised, as a task's own would be)."""

    group: PrefectFuture
    key: tuple[str, str]

    def result(self) -> tuple[Candidate, ModelOutcome]:
        value = self.group.result()[self.key]
        if isinstance(value, str):
            raise CandlecastError(value)
        return value


def submit_globals(
    run: Run, tasks: dict[SeriesKey, SeriesTasks]
) -> dict[tuple[str, str], PrefectFuture]:
    """With `model.scope` global or both: one network per (target, cell) on every loaded
    series."""
    config = run.config
    if config.model.scope not in ("global", "both"):
        return {}
    ready = {key: value for key, t in tasks.items() if (value := done(t.prepared).value)}
    if not ready:
        return {}
    training = train_global.with_options(
        timeout_seconds=backstop_seconds(config.orchestration.train_timeout_s)
    )
    return {
        (target, cell.id): training.submit(
            config, run.plan, ready, target, cell, run.results.started, run.mode
        )
        for target in run.plan.targets
        for cell in config.model.cells
    }


@dataclass
class TargetWork:
    """One target's finished candidates (or why its baselines failed). `networks` holds every
    network's outcome, failed ones with their error."""

    candidates: dict[str, Candidate] = field(default_factory=dict)
    networks: dict[str, ModelOutcome] = field(default_factory=dict)
    error: str | None = None


@dataclass
class Gathered:
    """One series' finished work per target, or the stage at which it failed, before the
    champions are chosen."""

    key: SeriesKey
    fetch: FetchReport | None = None
    series: PreparedSeries | None = None
    targets: dict[str, TargetWork] = field(default_factory=dict)
    realised: dict[str, pd.DataFrame | None] = field(default_factory=dict)
    failed_stage: Stage | None = None
    error: str | None = None


def _gather_target(
    run: Run, key: SeriesKey, target: str, tasks: SeriesTasks, globals_: dict
) -> TargetWork:
    work = TargetWork()
    for cell in run.config.model.cells:
        for name, future in (
            (cell.id, tasks.networks.get((target, cell.id))),
            (global_label(cell), globals_.get((target, cell.id))),
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
                work.networks[name] = ModelOutcome(name, "network", error=finished.error)
                continue
            work.candidates[name], work.networks[name] = value
    baselines = done(tasks.baselines[target])
    if baselines.error:
        work.error = f"{target}: the baselines failed: {baselines.error}"
    else:
        work.candidates.update(baselines.value or {})
    return work


def gather(run: Run, key: SeriesKey, tasks: SeriesTasks, globals_: dict) -> Gathered:
    """Collect a series' task results: a failed cell is recorded with its error, a target
    whose baselines failed with that; a failed fetch or load fails the series."""
    g = Gathered(key)
    fetched, prepared = done(tasks.synced), done(tasks.prepared)
    g.fetch, g.series = fetched.value, prepared.value
    if fetched.error or prepared.error:
        g.failed_stage = "fetch" if fetched.error else "prepare"
        g.error = fetched.error or prepared.error
        return g
    g.targets = {t: _gather_target(run, key, t, tasks, globals_) for t in run.plan.targets}
    if tasks.realised is not None:  # a record of earlier runs: its failure fails nothing
        g.realised = done(tasks.realised).value or {}
    if all(work.error for work in g.targets.values()):
        g.failed_stage = "baselines"
        g.error = "; ".join(work.error or "" for work in g.targets.values())
    return g


def choose_scope_of(run: Run, gathered: dict[SeriesKey, Gathered]) -> tuple[frozenset[str], str]:
    """With `model.scope = "both"`: the scope whose networks win across the universe (the
    other's stay on the leaderboards, off the champion's seat), and why."""
    if run.config.model.scope != "both":
        return frozenset(), ""
    boards = {
        (key, target): evaluate(g.series, target, work.candidates, run.config, run.plan).board
        for key, g in gathered.items()
        if g.error is None and g.series is not None
        for target, work in g.targets.items()
        if work.error is None
    }
    exclude, reason = choose_scope(boards)
    run.log.info("scope: %s", reason)
    return exclude, reason


def _evaluate_target(
    run: Run, g: Gathered, target: str, work: TargetWork, exclude: frozenset[str]
) -> TargetOutcome:
    failed = {name: m for name, m in work.networks.items() if m.error}
    if work.error is None and g.series is not None:
        try:
            return target_outcome(
                g.series, target, work.candidates, work.networks, run.config, run.plan, exclude
            )
        except CandlecastError as exc:
            work.error = f"{target}: {exc}"
    return TargetOutcome(target=target, models=failed, error=work.error)


def evaluate_series(
    run: Run, g: Gathered, exclude: frozenset[str], scope_reason: str
) -> SeriesOutcome:
    """Each target's leaderboard, champion and forecasts; failed models and notes."""
    outcome = SeriesOutcome(key=g.key, failed_stage=g.failed_stage, error=g.error)
    if g.series is not None and g.error is None:
        outcome.origin, outcome.candles = g.series.origin, g.series.frame
        outcome.quality["gaps"] = g.series.gaps.summary()
        outcome.targets = {
            target: _evaluate_target(run, g, target, work, exclude)
            for target, work in g.targets.items()
        }
        for target, table in g.realised.items():
            outcome.targets[target].realised = table
        if all(t.error for t in outcome.targets.values()):
            outcome.failed_stage = "evaluate"
            outcome.error = "; ".join(t.error or "" for t in outcome.targets.values())
    if g.fetch is not None:
        outcome.quality["fetch"] = g.fetch.summary()
    if scope_reason:
        outcome.quality["scope"] = scope_reason
    if outcome.error is not None:
        run.log.error("%s failed: %s", g.key, outcome.error)
        progress.emit(str(g.key), "failed", outcome.error)
    else:
        champions = ", ".join(f"{t.target} {t.champion}" for t in outcome.targets.values())
        progress.emit(str(g.key), "done", f"champions: {champions}")
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
        found = detection.value
        outcome.flags, outcome.events = found.flags, found.events
        outcome.detector_failures = found.failures
        new_events[outcome.id] = found.new_events
        for name, why in found.failures.items():
            run.log.warning("%s: detector %s could not run: %s", outcome.id, name, why)
    return new_events


def publish_all(run: Run) -> dict[str, str]:
    """Every configured publisher, at once. A failure makes an `ok` run `partial`, in the
    store too (the run was recorded before it published)."""
    results = run.results
    futures = {name: publish.submit(run.config, results, name) for name in run.plugins.publishers}
    notes = {}
    for name, future in futures.items():
        published = done(future)
        if published.error or published.value is None:
            why = published.error or "no report"
            notes[name] = f"failed: {why}"
            results.publish_failures[name] = why
            run.log.error("publisher %s failed: %s", name, why)
            continue
        report = published.value
        notes[name] = report.note or f"{sum(report.rows.values())} rows"
    recorded = results.status
    if results.settle_status() != recorded:
        run.store.runs.set_status(results)
    return notes
