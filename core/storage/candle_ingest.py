"""Storing what a source fetched: each candle is compared with the stored one at its open time
(new, corrected, or unchanged), the new and corrected ones are checked beside their stored
neighbours (validation and plausibility), and the clean ones upserted, all counted.

Sources call it for every page or file, so a candle the source has corrected since it was stored
(a partial candle replaced, a revised volume) overwrites the stored one and is counted, and an
unchanged re-read costs nothing. A correction that fails the checks is rejected and counted, and
the stored candle is kept.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from candlecast.core.market.candles import OHLCV_COLUMNS, SeriesKey, require_frame
from candlecast.core.market.plausibility import WINDOW
from candlecast.core.market.timeframes import timeframe_offset
from candlecast.core.market.validation import Rejections, check_candles
from candlecast.core.storage.candle_store import CandleStore


@dataclass
class Ingested:
    """What one page or file did to the store."""

    new: pd.DatetimeIndex = field(default_factory=lambda: pd.DatetimeIndex([], tz="UTC"))
    corrected: pd.DatetimeIndex = field(default_factory=lambda: pd.DatetimeIndex([], tz="UTC"))
    unchanged: int = 0  # candles already stored with the same values
    rejected: Rejections = field(default_factory=Rejections)


def ingest_candles(store: CandleStore, key: SeriesKey, incoming: pd.DataFrame) -> Ingested:
    """Store the new and corrected candles of `incoming` (one page or file) for `key`."""
    incoming = require_frame(incoming, f"candles for {key}")
    if incoming.empty:
        return Ingested()
    step = timeframe_offset(key.timeframe)
    stored = store.load(
        key,
        start=incoming.index.min() - WINDOW * step,
        end=incoming.index.max() + (WINDOW + 1) * step,
    )
    columns = list(OHLCV_COLUMNS)
    here = stored[columns].reindex(incoming.index)  # NaN where nothing is stored
    same = (here.to_numpy() == incoming[columns].to_numpy(dtype="float64")).all(axis=1)
    candidates = incoming[~same]
    if candidates.empty:  # a re-read that found nothing new or changed: nothing to check
        return Ingested(unchanged=len(incoming), rejected=Rejections(checked=len(incoming)))
    neighbours = stored[~stored.index.isin(candidates.index)]
    clean, rejected = check_candles(candidates, neighbours)
    rejected.checked = len(incoming)  # every row was looked at: compared, and checked if new
    store.upsert(key, clean)
    was_stored = clean.index.isin(stored.index)
    return Ingested(
        new=clean.index[~was_stored],
        corrected=clean.index[was_stored],
        unchanged=int(np.count_nonzero(same)),
        rejected=rejected,
    )
