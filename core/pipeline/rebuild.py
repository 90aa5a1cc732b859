"""A run's results rebuilt from the database alone, for reports made after the run (the HTML
file was deleted, or never written): the run row and its summary JSON, the forecasts and their
intervals, the backtest metrics, the anomaly flags it recorded, and the candles from the candle
store (through the run's own loader and plan), from which the decomposition is computed
again."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd
import sqlalchemy as sa
from pydantic import ValidationError

from candlecast.core.anomalies.flag import Flag
from candlecast.core.config import Config
from candlecast.core.decomposition import decompose_candles
from candlecast.core.errors import CandlecastError, StorageError
from candlecast.core.market.candles import SeriesKey
from candlecast.core.pipeline.plan import SeriesPlan
from candlecast.core.pipeline.prepare import load_candles
from candlecast.core.report.index import IndexEntry, entry_from_row
from candlecast.core.report.timefmt import utc
from candlecast.core.results import ModelOutcome, RunResults, SeriesOutcome, TargetOutcome
from candlecast.core.storage.anomaly_store import anomaly_flags
from candlecast.core.storage.runs import backtest_metrics, forecast_intervals, forecasts, runs
from candlecast.core.storage.store import Store


def index_entries(engine: sa.Engine, limit: int = 500) -> list[IndexEntry]:
    """The newest `limit` runs in the database, newest first (without report links)."""
    query = (
        sa.select(runs.c.run_id, runs.c.started, runs.c.finished, runs.c.status, runs.c.summary)
        .order_by(runs.c.started.desc(), runs.c.run_id.desc())
        .limit(limit)
    )
    with engine.connect() as conn:
        return [entry_from_row(row) for row in conn.execute(query).mappings()]


def results_from_store(store: Store, run_id: str, *, history: bool = True) -> RunResults:
    """The run `run_id` as RunResults. With `history`, each series also gets its candles
    (gaps filled as the run did) and a decomposition recomputed from them."""
    row = store.runs.get_run(run_id)
    if row is None:
        raise StorageError(
            f"run {run_id!r} is not in database {store.display_url}; "
            f"`candlecast report` lists the recorded runs"
        )
    summary: dict[str, Any] = row["summary"]
    config: dict[str, Any] = row["config"]
    results = RunResults(
        run_id=row["run_id"],
        started=utc(row["started"]) or pd.Timestamp(0, tz="UTC"),
        finished=utc(row["finished"]),
        status=row["status"],
        config_hash=row["config_hash"],
        config=config,
        versions=row["versions"],
        timings=summary.get("timings") or {},
        publish_failures=dict(summary.get("publish_failures") or {}),
    )
    metrics = _metrics(store.engine, run_id)
    for info in summary.get("series", []):
        outcome = _outcome(store, info, config, metrics.get(info["id"], {}), run_id)
        if history and outcome.origin is not None and not outcome.error:
            _attach_history(store, outcome, info, config)
        results.series.append(outcome)
    return results


def _outcome(
    store: Store,
    info: Mapping[str, Any],
    config: Mapping[str, Any],
    boards: Mapping[str, pd.DataFrame],
    run_id: str,
) -> SeriesOutcome:
    key = SeriesKey.parse(info["id"])
    outcome = SeriesOutcome(
        key=key,
        origin=utc(info.get("origin")),
        quality=dict(info.get("quality") or {}),
        timings=dict(info.get("timings") or {}),
        failed_stage=info.get("failed_stage"),
        error=info.get("error"),
        detector_failures=dict(info.get("detector_failures") or {}),
    )
    frames = _forecasts(store.engine, info["id"], outcome.origin) if outcome.origin else {}
    for name, summary in _target_summaries(info, config).items():
        outcome.targets[name] = _target(name, summary, frames.get(name, {}), boards.get(name))
    outcome.flags = _flags(store.engine, info["id"], run_id)
    recorded = int(info.get("flags") or 0)
    if len(outcome.flags) < recorded:
        outcome.quality["flags"] = (
            f"{recorded} flag(s) were raised by this run, {len(outcome.flags)} are still "
            f"recorded under it (a later run re-flagged the others)"
        )
    return outcome


def _target_summaries(
    info: Mapping[str, Any], config: Mapping[str, Any]
) -> dict[str, Mapping[str, Any]]:
    """Each target's stored summary; a run recorded before several targets kept its one
    target's at the series level."""
    if "targets" in info:
        return dict(info["targets"] or {})
    target = info.get("target") or (config.get("model") or {}).get("target") or "close"
    return {target: {**info, "error": None}}  # its error is the series'


def _target(
    name: str,
    summary: Mapping[str, Any],
    frames: Mapping[str, tuple[pd.DataFrame, str]],
    board: pd.DataFrame | None,
) -> TargetOutcome:
    details: dict[str, dict[str, Any]] = summary.get("model_details") or {}
    target = TargetOutcome(
        target=name,
        champion=summary.get("champion"),
        champion_reason=summary.get("champion_reason"),
        notes=list(summary.get("notes") or []),
        error=summary.get("error"),
    )
    if summary.get("realised"):
        target.realised = pd.DataFrame(summary["realised"]).set_index("level")
    for model in summary.get("models") or []:
        detail = details.get(model, {})
        frame, family = frames.get(model, (None, None))
        target.models[model] = ModelOutcome(
            model=model,
            family=detail.get("family") or family or "",
            forecast=frame,
            trained=bool(detail.get("trained", False)),
            fit_seconds=detail.get("fit_seconds"),
            epochs=detail.get("epochs"),
            version=detail.get("version"),
            note=detail.get("note"),
            error=detail.get("error"),
        )
    if board is not None:
        families = {m: outcome.family for m, outcome in target.models.items()}
        board = board.assign(family=[families.get(m, "") for m in board["model"]])
        target.leaderboard = board.sort_values("mase", kind="stable").reset_index(drop=True)
    return target


def _metrics(engine: sa.Engine, run_id: str) -> dict[str, dict[str, pd.DataFrame]]:
    """Per series and target, the leaderboard (one row per model, one column per metric)."""
    query = sa.select(backtest_metrics).where(backtest_metrics.c.run_id == run_id)
    with engine.connect() as conn:
        long = pd.DataFrame(conn.execute(query).mappings().all())
    if long.empty:
        return {}
    wide = long.pivot_table(
        index=["series", "target", "model"],
        columns="metric",
        values="value",
        aggfunc="first",
        dropna=False,
    ).reset_index()
    wide.columns.name = None
    boards: dict[str, dict[str, pd.DataFrame]] = {}
    for (series, target), part in wide.groupby(["series", "target"]):
        board = part.drop(columns=["series", "target"]).reset_index(drop=True)
        boards.setdefault(str(series), {})[str(target)] = board
    return boards


def _db_time(value: pd.Timestamp) -> Any:
    return value.tz_convert("UTC").to_pydatetime()


def _forecasts(
    engine: sa.Engine, series: str, origin: pd.Timestamp
) -> dict[str, dict[str, tuple[pd.DataFrame, str]]]:
    """target -> model -> (target_time, step, value, lower_<pct>, upper_<pct>; family) issued
    at `origin`."""
    points_q = sa.select(forecasts).where(
        forecasts.c.series == series, forecasts.c.issued_at == _db_time(origin)
    )
    bounds_q = sa.select(forecast_intervals).where(
        forecast_intervals.c.series == series,
        forecast_intervals.c.issued_at == _db_time(origin),
    )
    with engine.connect() as conn:
        points = pd.DataFrame(conn.execute(points_q).mappings().all())
        bounds = pd.DataFrame(conn.execute(bounds_q).mappings().all())
    if points.empty:
        return {}
    points["target_time"] = pd.to_datetime(points["target_time"], utc=True)
    if not bounds.empty:
        for level, part in bounds.groupby("level"):
            pct = round(float(level) * 100)
            part = part.rename(columns={"lower": f"lower_{pct}", "upper": f"upper_{pct}"})
            points = points.merge(
                part[["target", "model", "step", f"lower_{pct}", f"upper_{pct}"]],
                on=["target", "model", "step"],
                how="left",
            )
    out: dict[str, dict[str, tuple[pd.DataFrame, str]]] = {}
    for (target, model), part in points.groupby(["target", "model"]):
        columns = ["target_time", "step", "value"] + [
            c for c in part.columns if c.startswith(("lower_", "upper_"))
        ]
        frame = part.sort_values("step")[columns].reset_index(drop=True)
        out.setdefault(str(target), {})[str(model)] = (frame, str(part["family"].iloc[0]))
    return out


def _flags(engine: sa.Engine, series: str, run_id: str) -> list[Flag]:
    query = (
        sa.select(anomaly_flags)
        .where(anomaly_flags.c.series == series, anomaly_flags.c.run_id == run_id)
        .order_by(anomaly_flags.c.timestamp)
    )
    with engine.connect() as conn:
        rows = conn.execute(query).mappings().all()
    return [
        Flag(
            series=row["series"],
            timestamp=utc(row["timestamp"]),
            kind=row["kind"],
            detector=row["detector"],
            score=row["score"],
            threshold=row["threshold"],
            severity=row["severity"],
            reason=row["reason"],
        )
        for row in rows
    ]


def _attach_history(
    store: Store, outcome: SeriesOutcome, info: Mapping[str, Any], config: Mapping[str, Any]
) -> None:
    """The candles the run used (the same loader, gaps filled as the run did) and the
    decomposition it made of them (the same look-back window)."""
    plan = _plan(config)
    try:
        frame, _ = load_candles(store.candles, outcome.key, plan, newest=outcome.origin)
        if frame.empty:
            outcome.quality["report"] = "no stored candles for the report's history"
            return
        outcome.candles = frame
        outcome.decomposition = decompose_candles(plan.anomaly_window(frame), outcome.key.timeframe)
    except CandlecastError as exc:
        outcome.quality["report"] = f"decomposition could not be recomputed: {exc}"


def _plan(config: Mapping[str, Any]) -> SeriesPlan:
    """The plan of the run's own configuration (stored with it, passwords redacted); the
    defaults where it no longer validates (a run recorded by an older version)."""
    try:
        return SeriesPlan.from_config(Config.model_validate(dict(config)))
    except (ValidationError, CandlecastError):
        return SeriesPlan.from_config(Config())
