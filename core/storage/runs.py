"""Runs and what they produced: forecasts (with interval bounds) and backtest metrics.

Natural keys make re-running safe: a forecast is (series, target, model, issued_at, step), so
the same data forecast twice updates the same rows instead of adding new ones, and a re-run at
the same origin with fewer models removes the rows of the models it no longer forecasts with.
`record` writes one run's rows in one transaction: a failure leaves no partial rows of that run.
"""

from __future__ import annotations

import json
import math
from typing import Any

import pandas as pd
import sqlalchemy as sa

from candlecast.core.market.candles import as_utc
from candlecast.core.results import RunResults, TargetOutcome
from candlecast.core.storage.schema import metadata
from candlecast.core.storage.upsert import upsert_rows

TS = sa.DateTime(timezone=True)

runs = sa.Table(
    "runs",
    metadata,
    sa.Column("run_id", sa.String(64), primary_key=True),
    sa.Column("started", TS, nullable=False),
    sa.Column("finished", TS),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("config_hash", sa.String(64), nullable=False),
    sa.Column("config", sa.Text, nullable=False),
    sa.Column("versions", sa.Text, nullable=False),
    sa.Column("summary", sa.Text, nullable=False),
)

forecasts = sa.Table(
    "forecasts",
    metadata,
    sa.Column("series", sa.String(200), primary_key=True),
    sa.Column("target", sa.String(32), primary_key=True),
    sa.Column("model", sa.String(100), primary_key=True),
    sa.Column("issued_at", TS, primary_key=True),
    sa.Column("step", sa.Integer, primary_key=True),
    sa.Column("target_time", TS, nullable=False),
    sa.Column("value", sa.Float, nullable=False),
    sa.Column("family", sa.String(20), nullable=False),
    sa.Column("champion", sa.Boolean, nullable=False),
    sa.Column("model_version", sa.String(64)),
    sa.Column("run_id", sa.String(64), nullable=False),
)

forecast_intervals = sa.Table(
    "forecast_intervals",
    metadata,
    sa.Column("series", sa.String(200), primary_key=True),
    sa.Column("target", sa.String(32), primary_key=True),
    sa.Column("model", sa.String(100), primary_key=True),
    sa.Column("issued_at", TS, primary_key=True),
    sa.Column("step", sa.Integer, primary_key=True),
    sa.Column("level", sa.Float, primary_key=True),
    sa.Column("lower", sa.Float, nullable=False),
    sa.Column("upper", sa.Float, nullable=False),
)

backtest_metrics = sa.Table(
    "backtest_metrics",
    metadata,
    sa.Column("run_id", sa.String(64), primary_key=True),
    sa.Column("series", sa.String(200), primary_key=True),
    sa.Column("target", sa.String(32), primary_key=True),
    sa.Column("model", sa.String(100), primary_key=True),
    sa.Column("metric", sa.String(40), primary_key=True),
    sa.Column("value", sa.Float),
)

# the recent published forecasts of a series and target (`forecasts_for(since=...)`): the
# champion's rows only, not every model's, with each target time's issues (the freshest one,
# `latest`, from the index alone); and the newest origin of a series (`last_origin`)
sa.Index(
    "ix_forecasts_champion_time",
    forecasts.c.series,
    forecasts.c.target,
    forecasts.c.champion,
    forecasts.c.target_time,
    forecasts.c.issued_at,
)
sa.Index("ix_forecasts_issued_at", forecasts.c.series, forecasts.c.issued_at)
sa.Index(
    "ix_forecast_intervals_issued_at",
    forecast_intervals.c.series,
    forecast_intervals.c.target,
    forecast_intervals.c.issued_at,
)

TABLES = (runs, forecasts, forecast_intervals, backtest_metrics)
FORECAST_KEY = ["series", "target", "model", "issued_at", "step"]
INTERVAL_KEY = [*FORECAST_KEY, "level"]
METRIC_KEY = ["run_id", "series", "target", "model", "metric"]


def _ts(value: Any) -> Any:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return pd.Timestamp(value).tz_convert("UTC").to_pydatetime()


def _raw(column: sa.ColumnElement) -> sa.ColumnElement:
    """A column as the driver returns it: a time as SQLite's text (or PostgreSQL's datetime),
    left for `pd.to_datetime` to parse for all rows at once."""
    if isinstance(column.type, sa.DateTime):
        return sa.type_coerce(column, sa.String).label(column.name)
    return column


# what `forecasts_for` reads: a published point's varying columns, and its bands
_POINT_NAMES = [
    "model",
    "issued_at",
    "step",
    "target_time",
    "value",
    "family",
    "model_version",
    "run_id",
]
_POINT_COLUMNS = [_raw(forecasts.c[name]) for name in _POINT_NAMES]
_BAND_NAMES = ["issued_at", "step", "level", "lower", "upper"]
_BAND_COLUMNS = [_raw(forecast_intervals.c[name]) for name in _BAND_NAMES]
_SAME_FORECAST = sa.and_(*(forecast_intervals.c[c] == forecasts.c[c] for c in FORECAST_KEY))


def _frame(conn: sa.Connection, query: sa.Select, columns: list[str]) -> pd.DataFrame:
    return pd.DataFrame(map(tuple, conn.execute(query)), columns=columns)


def _freshest_rows(
    conn: sa.Connection, where: list[Any], champion: list[Any]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The freshest champion forecast of each target time in `where` (made before it), and
    their bands: one query, the bands outer-joined (a few rows per target time)."""
    points = forecasts.c
    freshest = sa.func.row_number().over(
        partition_by=points.target_time, order_by=points.issued_at.desc()
    )
    # from the index alone (series, target, champion, target_time, issued_at); one champion
    # per issue, so a target time and an issue name a row
    ranked = (
        sa.select(points.target_time, points.issued_at, freshest.label("freshness"))
        .where(*where, points.issued_at < points.target_time)
        .subquery()
    )
    chosen = forecasts.join(
        ranked,
        sa.and_(
            ranked.c.target_time == points.target_time,
            ranked.c.issued_at == points.issued_at,
            ranked.c.freshness == 1,
        ),
    ).outerjoin(forecast_intervals, _SAME_FORECAST)
    band_values = [forecast_intervals.c[name] for name in _BAND_NAMES[2:]]
    # the window is the subquery's: repeated on the outer query, it made SQLite look the
    # chosen rows up by the window's range instead of by their time and issue
    query = sa.select(*_POINT_COLUMNS, *band_values).select_from(chosen).where(*champion)
    joined = _frame(conn, query, [*_POINT_NAMES, *_BAND_NAMES[2:]])
    levels = joined.loc[joined["level"].notna(), _BAND_NAMES]
    return joined[_POINT_NAMES], levels.reset_index(drop=True)


def _float(value: Any) -> float | None:
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def forecast_rows(results: RunResults) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(point rows, interval rows) of a run, ready for the tables above."""
    points, intervals = [], []
    for outcome in results.series:
        for target in outcome.targets.values():
            for model in target.models.values():
                frame = model.forecast
                if frame is None or frame.empty:
                    continue
                levels = sorted(
                    int(c.split("_")[1]) for c in frame.columns if c.startswith("lower_")
                )
                for row in frame.itertuples(index=False):
                    key = {
                        "series": outcome.id,
                        "target": target.target,
                        "model": model.model,
                        "issued_at": _ts(outcome.origin),
                        "step": int(row.step),
                    }
                    points.append(
                        key
                        | {
                            "target_time": _ts(row.target_time),
                            "value": float(row.value),
                            "family": model.family,
                            "champion": model.model == target.champion,
                            "model_version": model.version,
                            "run_id": results.run_id,
                        }
                    )
                    for pct in levels:
                        lower, upper = getattr(row, f"lower_{pct}"), getattr(row, f"upper_{pct}")
                        if _float(lower) is None or _float(upper) is None:
                            continue
                        intervals.append(
                            key | {"level": pct / 100, "lower": float(lower), "upper": float(upper)}
                        )
    return points, intervals


def metric_rows(results: RunResults) -> list[dict[str, Any]]:
    board = results.metrics()
    rows = []
    if board.empty:
        return rows
    numeric = [
        c for c in board.columns if c not in ("run_id", "series", "target", "model", "family")
    ]
    for record in board.to_dict("records"):
        for metric in numeric:
            value = record.get(metric)
            if isinstance(value, bool):
                value = float(value)
            if isinstance(value, (int, float)):
                rows.append(
                    {
                        "run_id": results.run_id,
                        "series": record["series"],
                        "target": record["target"],
                        "model": record["model"],
                        "metric": metric,
                        "value": _float(value),
                    }
                )
    return rows


def _decomposition_facts(decomposition: Any) -> dict[str, Any] | None:
    """How a series was decomposed (the report recomputes the parts from stored candles)."""
    if decomposition is None:
        return None
    index = decomposition.components.index
    return {
        "start": str(index[0]) if len(index) else None,
        "end": str(index[-1]) if len(index) else None,
        "periods": list(decomposition.periods),
        "method": decomposition.method,
        "scale": decomposition.scale,
    }


def _target_summary(target: TargetOutcome) -> dict[str, Any]:
    return {
        "champion": target.champion,
        "champion_reason": target.champion_reason,
        "models": sorted(target.models),
        "model_details": {
            name: {
                "family": m.family,
                "version": m.version,
                "trained": m.trained,
                "fit_seconds": m.fit_seconds,
                "epochs": m.epochs,
                "note": m.note,
                "error": m.error,
            }
            for name, m in sorted(target.models.items())
        },
        "notes": list(target.notes),
        "error": target.error,
        "realised": None
        if target.realised is None
        else target.realised.reset_index().to_dict("records"),
    }


def run_row(results: RunResults) -> dict[str, Any]:
    # what the report rebuilds from the database needs beyond the other tables
    summary = {
        "series": [
            {
                "id": s.id,
                "origin": str(s.origin) if s.origin is not None else None,
                "targets": {name: _target_summary(t) for name, t in s.targets.items()},
                "decomposition": _decomposition_facts(s.decomposition),
                "flags": len(s.flags),
                "detector_failures": s.detector_failures,
                "quality": s.quality,
                "timings": s.timings,
                "failed_stage": s.failed_stage,
                "error": s.error,
            }
            for s in results.series
        ],
        "timings": results.timings,
        "problems": results.problems(),
        "publish_failures": results.publish_failures,
    }
    return {
        "run_id": results.run_id,
        "started": _ts(results.started),
        "finished": _ts(results.finished),
        "status": results.status,
        "config_hash": results.config_hash,
        "config": json.dumps(results.config, sort_keys=True, default=str),
        "versions": json.dumps(results.versions, sort_keys=True),
        "summary": json.dumps(summary, sort_keys=True, default=str),
    }


def _drop_models_not_forecast(conn: sa.Connection, results: RunResults) -> int:
    """A re-run at the same origin that forecast with fewer models (a cell removed, a model
    failed this time) leaves no rows of the others beside its own: they are deleted for every
    (series, target, origin) this run forecast. Returns how many forecast rows went."""
    dropped = 0
    for outcome in results.series:
        if outcome.origin is None:
            continue
        for target in outcome.targets.values():
            kept = [
                m.model
                for m in target.models.values()
                if m.forecast is not None and not m.forecast.empty
            ]
            if not kept:
                continue
            for table in (forecast_intervals, forecasts):
                gone = conn.execute(
                    sa.delete(table).where(
                        table.c.series == outcome.id,
                        table.c.target == target.target,
                        table.c.issued_at == _ts(outcome.origin),
                        table.c.model.not_in(kept),
                    )
                )
                if table is forecasts:
                    dropped += gone.rowcount or 0
    return dropped


class RunStore:
    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine

    def create(self) -> None:
        metadata.create_all(self.engine, tables=list(TABLES))

    def record(self, results: RunResults, conn: sa.Connection | None = None) -> dict[str, int]:
        """Write the run, its forecasts, intervals and metrics; one transaction."""
        points, intervals = forecast_rows(results)
        metrics_ = metric_rows(results)

        def write(c: sa.Connection) -> dict[str, int]:
            upsert_rows(c, runs, [run_row(results)], ["run_id"])
            dropped = _drop_models_not_forecast(c, results)
            counts = {
                "forecasts": upsert_rows(c, forecasts, points, FORECAST_KEY),
                "intervals": upsert_rows(c, forecast_intervals, intervals, INTERVAL_KEY),
                "metrics": upsert_rows(c, backtest_metrics, metrics_, METRIC_KEY),
            }
            return counts | ({"dropped_forecasts": dropped} if dropped else {})

        if conn is not None:
            return write(conn)
        with self.engine.begin() as c:
            return write(c)

    def list_runs(self, limit: int = 20) -> pd.DataFrame:
        query = (
            sa.select(
                runs.c.run_id, runs.c.started, runs.c.finished, runs.c.status, runs.c.config_hash
            )
            .order_by(runs.c.started.desc())
            .limit(limit)
        )
        with self.engine.connect() as conn:
            return pd.DataFrame(conn.execute(query).mappings().all())

    def get_run(self, run_id: str) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(runs).where(runs.c.run_id == run_id)).mappings().first()
        if row is None:
            return None
        out = dict(row)
        for key in ("config", "versions", "summary"):
            out[key] = json.loads(out[key])
        return out

    def set_status(self, results: RunResults) -> None:
        """A recorded run's status after the fact (a publisher failed once it was recorded),
        with what went wrong in its summary."""
        run_id = results.run_id
        with self.engine.begin() as conn:
            summary = conn.execute(sa.select(runs.c.summary).where(runs.c.run_id == run_id))
            current = json.loads(summary.scalar() or "{}")
            current["problems"] = results.problems()
            current["publish_failures"] = results.publish_failures
            conn.execute(
                sa.update(runs)
                .where(runs.c.run_id == run_id)
                .values(
                    status=results.status,
                    summary=json.dumps(current, sort_keys=True, default=str),
                )
            )

    def latest_run_id(self) -> str | None:
        with self.engine.connect() as conn:
            return conn.execute(
                sa.select(runs.c.run_id).order_by(runs.c.started.desc()).limit(1)
            ).scalar()

    def forecasts_for(
        self,
        series: str,
        since: pd.Timestamp | None = None,
        target: str = "close",
        *,
        latest: bool = False,
    ) -> pd.DataFrame:
        """Published (champion) forecasts of one target of a series with their intervals, wide
        format: target_time, issued_at, step, value, lower_<pct>, upper_<pct>. With `since`,
        only those for target times after it (a long-running store holds every hour's
        forecasts: read the part a caller looks at). With `latest`, only the freshest forecast
        of each target time made before it (what the anomaly detectors compare a candle with:
        one row per target time instead of one per run that forecast it, 24 with hourly runs
        and a horizon of 24).

        A store that has kept 90 days of hourly runs holds ~52,000 such rows per series and
        target (and two bands each), and a run reads them for every series: only the columns
        that vary are fetched, the times are parsed for all rows at once (the column type
        parsed them one by one: most of the time it took), and a full read takes the points
        and the bands in two queries (a join repeats every point once per level)."""
        points = forecasts.c
        champion = [points.series == series, points.target == target, points.champion.is_(True)]
        where = champion + ([points.target_time > _ts(since)] if since is not None else [])
        with self.engine.connect() as conn:
            if latest:
                rows, levels = _freshest_rows(conn, where, champion)
            else:
                rows = _frame(conn, sa.select(*_POINT_COLUMNS).where(*where), _POINT_NAMES)
                levels = _frame(
                    conn,
                    sa.select(*_BAND_COLUMNS)
                    .select_from(forecasts.join(forecast_intervals, _SAME_FORECAST))
                    .where(*where),
                    _BAND_NAMES,
                )
        if rows.empty:
            return pd.DataFrame()
        for frame in (rows, levels):
            frame["issued_at"] = pd.to_datetime(frame["issued_at"], utc=True)  # naive: UTC
        rows["target_time"] = pd.to_datetime(rows["target_time"], utc=True)
        rows = rows.assign(series=series, target=target, champion=True)
        rows = rows[[c.name for c in forecasts.c]]
        # one champion per issue: (issued_at, step) names a row
        rows = rows.drop_duplicates(["issued_at", "step"])
        if not levels.empty:
            levels["pct"] = (levels["level"] * 100).round().astype(int)
            wide = levels.pivot_table(
                index=["issued_at", "step"], columns="pct", values=["lower", "upper"]
            )
            columns = {}
            for pct in sorted(levels["pct"].unique()):
                columns[f"lower_{pct}"] = wide[("lower", pct)]
                columns[f"upper_{pct}"] = wide[("upper", pct)]
            rows = rows.join(pd.DataFrame(columns), on=["issued_at", "step"])
        return rows.sort_values(["target_time", "issued_at"]).reset_index(drop=True)

    def last_origin(self, series: str) -> pd.Timestamp | None:
        """The newest candle a recorded run forecast `series` from (None before the first)."""
        with self.engine.connect() as conn:
            value = conn.execute(
                sa.select(sa.func.max(forecasts.c.issued_at)).where(forecasts.c.series == series)
            ).scalar()
        return None if value is None else as_utc(value)

    def count(self, table: sa.Table) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar())
