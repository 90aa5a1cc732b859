"""The `candlecast-forecast` flow: candles -> decomposition -> networks and baselines on the same
walk-forward folds -> champion with conformal intervals -> anomaly flags -> store -> publishers
-> Prefect artifacts.

It fans out per series and per (series, cell) through the flow's task runner. A series that
fails is reported and the others go on; the run then ends `partial`.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any, Literal

import pandas as pd
from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact, create_table_artifact

from candlecast.core.config import Config, load_config
from candlecast.core.errors import CandlecastError, SourceError
from candlecast.core.evaluate import fold_spec, series_outcome
from candlecast.core.modelling import library_versions
from candlecast.core.results import RunResults, SeriesOutcome
from candlecast.core.summary import leaderboard_rows, run_markdown
from candlecast.flows import progress
from candlecast.flows.runtime import (
    config_hash,
    new_run_id,
    open_store,
    redacted_config,
    resolve_plugins,
)
from candlecast.flows.tasks import (
    decompose_series,
    detect_anomalies,
    load_series,
    publish,
    record_run,
    run_baselines,
    sync_candles,
    train_network,
)

Mode = Literal["auto", "train", "forecast"]


def _error(exc: BaseException) -> str:
    if isinstance(exc, CandlecastError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


def _result(future: Any) -> tuple[Any, str | None]:
    """(value, None) or (None, error message) without raising."""
    try:
        return future.result(), None
    except Exception as exc:
        return None, _error(exc)


def resolve_config(config: Config | dict | None, config_path: str | None) -> Config:
    if isinstance(config, Config):
        return config
    if config is not None:
        return Config.model_validate(config)
    return load_config(Path(config_path) if config_path else None)


@flow(name="candlecast-forecast", log_prints=True, validate_parameters=True)
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
    networks = {
        (key, cell.id): train_network.submit(config, prepared[key], cell, now, mode)
        for key in keys
        for cell in config.model.cells
    }
    baselines = {key: run_baselines.submit(config, prepared[key]) for key in keys}
    decompositions = (
        {key: decompose_series.submit(config, prepared[key]) for key in keys}
        if config.anomalies.enabled
        else {}
    )

    spec = fold_spec(config)
    for key in keys:
        outcome = SeriesOutcome(key=key, target=config.model.target)
        fetch, error = _result(synced[key])
        if error is not None:
            outcome.quality["failed_stage"] = "fetch"
        series, error = _result(prepared[key]) if error is None else (None, error)
        if error is None:
            candidates, network_outcomes, failures = {}, {}, []
            for cell in config.model.cells:
                value, cell_error = _result(networks[(key, cell.id)])
                if cell_error:
                    failures.append(f"{cell.id}: {cell_error}")
                    continue
                candidates[cell.id], network_outcomes[cell.id] = value
            base, error = _result(baselines[key])
            if error is None:
                candidates.update(base)
                try:
                    outcome = series_outcome(series, candidates, network_outcomes, config, spec)
                    outcome.quality["fetch"] = fetch.summary() if fetch is not None else ""
                except CandlecastError as exc:
                    error = str(exc)
            if failures:
                outcome.quality["model_failures"] = "; ".join(failures)
        if error is None and key in decompositions:
            outcome.decomposition, decomp_error = _result(decompositions[key])
            if decomp_error is None:
                flagged, flag_error = _result(
                    detect_anomalies.submit(config, series, outcome.decomposition, results.run_id)
                )
                if flag_error is None:
                    outcome.flags, outcome.events = flagged
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
    _artifacts(results)
    summary = {
        "run_id": results.run_id,
        "status": results.status,
        "series": {
            s.id: {"champion": s.champion, "reason": s.champion_reason, "error": s.error}
            for s in results.series
        },
        "published": notes,
        "recorded": counts,
    }
    if results.status == "failed":
        message = "every series failed: " + "; ".join(f"{s.id}: {s.error}" for s in failed)
        if all(s.quality.get("failed_stage") == "fetch" for s in failed):
            raise SourceError(message)
        raise CandlecastError(message)
    return summary


def _artifacts(results: RunResults) -> None:
    """The run summary and leaderboard in the Prefect UI, under stable keys."""
    try:
        create_markdown_artifact(
            key="candlecast-run-summary",
            markdown=run_markdown(results),
            description=f"candlecast run {results.run_id}",
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
