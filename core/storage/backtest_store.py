"""Stored backtest forecasts of registered networks, so that a run that reuses a model reads
what it forecast at each backtest origin instead of recomputing it.

One row per (model version, series, origin time): the model's `[horizon]` forecast from that
origin and a digest of the candles that forecast was computed from (`input_digest`). A model
that is not retrained forecasts the same from the same candles, so a row is valid as long as
its model version (the registry's `model_id`; a retrained or rewritten model is a new version
with a new checksum) and its digest (a corrected or gap-filled candle changes it) match. The
residuals, leaderboard and conformal intervals are recomputed from these forecasts and the
current actuals each run (cheap arithmetic); volatility-normalised bands scale the residuals
by the volatility at each origin, recomputed from the candles like every other run.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
import sqlalchemy as sa

from candlecast.core.storage.schema import metadata
from candlecast.core.storage.upsert import upsert_rows

TS = sa.DateTime(timezone=True)

backtest_forecasts = sa.Table(
    "backtest_forecasts",
    metadata,
    sa.Column("model_id", sa.String(64), primary_key=True),
    sa.Column("series", sa.String(200), primary_key=True),
    sa.Column("origin_time", TS, primary_key=True),
    sa.Column("input_digest", sa.String(32), nullable=False),
    sa.Column("forecast", sa.LargeBinary, nullable=False),  # float64 [horizon], little-endian
)

Stored = dict[pd.Timestamp, tuple[str, np.ndarray]]
"""origin time -> (input digest, forecast `[horizon]`)."""


class BacktestStore:
    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine

    def read(self, model_id: str, series: str) -> Stored:
        """Every stored forecast of one model version for one series."""
        table = backtest_forecasts
        query = sa.select(table.c.origin_time, table.c.input_digest, table.c.forecast).where(
            table.c.model_id == model_id, table.c.series == series
        )
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        if not rows:
            return {}
        times = pd.to_datetime([row[0] for row in rows], utc=True)  # naive ones are UTC
        return {
            time: (digest, np.frombuffer(blob, dtype="<f8").copy())
            for time, (_, digest, blob) in zip(times, rows, strict=True)
        }

    def write(
        self,
        model_id: str,
        series: str,
        forecasts: Mapping[pd.Timestamp, tuple[str, np.ndarray]],
        keep_from: pd.Timestamp | None = None,
    ) -> int:
        """Add (or replace) forecasts; with `keep_from`, drop this model's older origins (a
        backtest span only moves forward). Returns the rows written."""
        table = backtest_forecasts
        rows = [
            {
                "model_id": model_id,
                "series": series,
                "origin_time": pd.Timestamp(t).to_pydatetime(),
                "input_digest": digest,
                "forecast": np.asarray(values, dtype="<f8").tobytes(),
            }
            for t, (digest, values) in forecasts.items()
        ]
        with self.engine.begin() as conn:
            if keep_from is not None:
                conn.execute(
                    sa.delete(table).where(
                        table.c.model_id == model_id,
                        table.c.series == series,
                        table.c.origin_time < pd.Timestamp(keep_from).to_pydatetime(),
                    )
                )
            upsert_rows(conn, table, rows, ("model_id", "series", "origin_time"))
        return len(rows)

    def forget(self, model_id: str) -> None:
        """Drop every stored forecast of a model version (it was rejected or replaced)."""
        with self.engine.begin() as conn:
            conn.execute(
                sa.delete(backtest_forecasts).where(backtest_forecasts.c.model_id == model_id)
            )
