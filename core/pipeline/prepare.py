"""Stage 1 of a series' run: from stored candles to what the models see.

The one loader every caller uses (the flow's tasks, `candlecast backtest`, `candlecast fetch`,
a report rebuilt from the database): the plan's history window from the candle store, gaps
filled as `source.max_gap` / `source.on_long_gap` say, and a series too short for the plan
refused with the count it needs. Each target's values (`values`) come from the same frame.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from candlecast.core.errors import DataError
from candlecast.core.market.candles import SeriesKey
from candlecast.core.market.gaps import GapReport, fill_gaps
from candlecast.core.models.targets import target_series
from candlecast.core.pipeline.plan import SeriesPlan
from candlecast.core.storage.candle_store import CandleStore


@dataclass
class PreparedSeries:
    key: SeriesKey
    frame: pd.DataFrame  # candle frame, gaps filled (synthetic rows flagged)
    gaps: GapReport

    @property
    def origin(self) -> pd.Timestamp:
        return pd.Timestamp(self.frame.index[-1])

    def values(self, target: str) -> pd.Series:
        """The values of `target` (close, volume, range, ...), aligned with the frame."""
        return target_series(self.frame, target)


def stored_window(
    store: CandleStore, key: SeriesKey, plan: SeriesPlan, *, newest: pd.Timestamp | None = None
) -> pd.DataFrame:
    """The stored candles of `key` in the plan's history window: from `plan.history` before
    the newest stored candle (before `newest` when given: a past run's origin) up to it."""
    newest = store.last_timestamp(key) if newest is None else pd.Timestamp(newest)
    if newest is None:
        return store.load(key)
    end = newest + pd.Timedelta(milliseconds=1)  # the store keeps milliseconds: newest included
    return store.load(key, start=plan.history_start(newest), end=end)


def fill(candles: pd.DataFrame, key: SeriesKey, plan: SeriesPlan) -> tuple[pd.DataFrame, GapReport]:
    """Gaps up to `source.max_gap` filled with synthetic candles; longer ones split at or
    failed on, as `source.on_long_gap` says."""
    return fill_gaps(candles, key.timeframe, plan.max_gap, plan.on_long_gap)  # type: ignore[arg-type]


def load_candles(
    store: CandleStore, key: SeriesKey, plan: SeriesPlan, *, newest: pd.Timestamp | None = None
) -> tuple[pd.DataFrame, GapReport]:
    """The history window, gaps filled (an empty frame when nothing is stored): what
    `candlecast fetch` counts gaps in and a rebuilt report shows."""
    return fill(stored_window(store, key, plan, newest=newest), key, plan)


def prepare_series(candles: pd.DataFrame, key: SeriesKey, plan: SeriesPlan) -> PreparedSeries:
    """Fill gaps; fail with the count needed when the series is too short."""
    if candles.empty:
        raise DataError(
            f"{key}: no candles stored: the source returned none for this series (first run: "
            f"none in the last source.history_days = {plan.history / pd.Timedelta(days=1):g} "
            "days); check the symbol and timeframe, and that the exchange or file has candles "
            "for it"
        )
    frame, gaps = fill(candles, key, plan)
    needed = plan.min_candles
    if len(frame) < needed:
        raise DataError(
            f"{key}: {len(frame)} usable candles, but window {plan.window}, horizon "
            f"{plan.horizon} and the backtest need at least {needed}; fetch more history "
            f"(source.history_days) or lower model.window / backtest.span_days"
        )
    return PreparedSeries(key, frame, gaps)


def load_series(store: CandleStore, key: SeriesKey, plan: SeriesPlan) -> PreparedSeries:
    """The one loader: the history window from the store, prepared as a run's models see it."""
    return prepare_series(stored_window(store, key, plan), key, plan)
