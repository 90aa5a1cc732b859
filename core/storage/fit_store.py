"""The last fitted parameters of each series' statistical models (ETS), so that the next run's
maximum-likelihood fit starts from them: the training part moves by a candle or so between
runs, so the optimum barely moves, and the optimiser needs one or two iterations instead of
dozens (an ETS fit with 24 seasons on 1,500 hourly candles: ~20 iterations of ~2 s each). The
fit itself is the same MLE on the current training part; only its starting point changes."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import sqlalchemy as sa

from candlecast.core.storage.schema import metadata
from candlecast.core.storage.upsert import upsert_rows

statistical_fits = sa.Table(
    "statistical_fits",
    metadata,
    sa.Column("series", sa.String(200), primary_key=True),
    sa.Column("target", sa.String(32), primary_key=True),
    sa.Column("model", sa.String(100), primary_key=True),
    sa.Column("settings", sa.String(200), nullable=False),
    sa.Column("params", sa.Text, nullable=False),
    sa.Column("fitted_at", sa.DateTime(timezone=True), nullable=False),
)


class FitStore:
    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine

    def params(self, series: str, target: str, model: str, settings: str) -> np.ndarray | None:
        """The last fitted parameters of a model with these `settings`, or None."""
        table = statistical_fits
        query = sa.select(table.c.settings, table.c.params).where(
            table.c.series == series, table.c.target == target, table.c.model == model
        )
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        if row is None or row.settings != settings:
            return None
        return np.asarray(json.loads(row.params), dtype="float64")

    def put(self, series: str, target: str, model: str, settings: str, params: np.ndarray) -> None:
        row = {
            "series": series,
            "target": target,
            "model": model,
            "settings": settings,
            "params": json.dumps([float(p) for p in np.asarray(params).ravel()]),
            "fitted_at": pd.Timestamp.now(tz="UTC").to_pydatetime(),
        }
        with self.engine.begin() as conn:
            upsert_rows(conn, statistical_fits, [row], ("series", "target", "model"))
