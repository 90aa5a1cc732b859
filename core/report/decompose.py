"""Decompositions for the report where the run made none (anomaly detection off): the same
four parts the detectors use, over the same look-back window."""

from __future__ import annotations

import pandas as pd

from candlecast.core.errors import CandlecastError
from candlecast.core.results import RunResults

DEFAULT_LOOKBACK_DAYS = 90.0


def add_missing_decompositions(
    results: RunResults, lookback_days: float = DEFAULT_LOOKBACK_DAYS
) -> RunResults:
    """Decompose the last `lookback_days` of every series that has candles but no
    decomposition (in place; returns `results`). A series too short to decompose gets a
    data-quality note instead."""
    from candlecast.core.decomposition import decompose_candles

    for outcome in results.series:
        candles = outcome.candles
        if outcome.decomposition is not None or candles is None or candles.empty:
            continue
        end = pd.Timestamp(candles.index[-1])
        window = candles[candles.index > end - pd.Timedelta(days=lookback_days)]
        try:
            outcome.decomposition = decompose_candles(window, outcome.key.timeframe)
        except CandlecastError as exc:
            outcome.quality["report"] = f"no decomposition for the report: {exc}"
    return results
