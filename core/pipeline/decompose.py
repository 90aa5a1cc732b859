"""Stage 2 of a series' run: the price decomposition of the anomaly look-back window, made once
per series whether anomaly detection is on or off. The detectors score it and the report shows
it: both see the same parts of the same candles."""

from __future__ import annotations

from candlecast.core.decomposition import Decomposition, decompose_candles
from candlecast.core.pipeline.plan import SeriesPlan
from candlecast.core.pipeline.prepare import PreparedSeries


def decompose_series(prepared: PreparedSeries, plan: SeriesPlan) -> Decomposition:
    """Trend, cycle, seasonal and irregular parts of log(close) over `plan.anomaly_window`."""
    return decompose_candles(plan.anomaly_window(prepared.frame), prepared.key.timeframe)
