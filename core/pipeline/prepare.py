"""From stored candles to what the models see: the lookback, gap filling, the target."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from candlecast.core.config import Config
from candlecast.core.errors import DataError
from candlecast.core.market.candles import SeriesKey
from candlecast.core.market.gaps import GapReport, fill_gaps
from candlecast.core.models.targets import target_series


@dataclass
class PreparedSeries:
    key: SeriesKey
    frame: pd.DataFrame  # candle frame, gaps filled (synthetic rows flagged)
    y: pd.Series  # the target values, aligned with frame
    gaps: GapReport

    @property
    def origin(self) -> pd.Timestamp:
        return pd.Timestamp(self.frame.index[-1])


def history_start(config: Config, last: pd.Timestamp) -> pd.Timestamp:
    """The oldest open time a run uses: `history_days` before the newest candle."""
    return last - pd.Timedelta(days=config.source.history_days)


def minimum_candles(config: Config) -> int:
    """The fewest candles a series needs for the configured window, horizon and backtest."""
    model = config.model
    backtest = config.backtest
    needed = model.window + model.horizon + 1
    if backtest.enabled:
        needed += (backtest.folds * backtest.origins_per_fold - 1) * backtest.resolved_step(
            model.horizon
        ) + model.horizon
    return needed + 50  # enough windows to train and validate on


def prepare_series(candles: pd.DataFrame, key: SeriesKey, config: Config) -> PreparedSeries:
    """Fill gaps, pick the target; fail with the count needed when the series is too short."""
    if candles.empty:
        raise DataError(
            f"{key}: no candles stored: the source returned none for this series (first run: "
            f"none in the last source.history_days = {config.source.history_days:g} days); check "
            "the symbol and timeframe, and that the exchange or file has candles for it"
        )
    frame, gaps = fill_gaps(
        candles, key.timeframe, config.source.max_gap, config.source.on_long_gap
    )
    needed = minimum_candles(config)
    if len(frame) < needed:
        raise DataError(
            f"{key}: {len(frame)} usable candles, but window {config.model.window}, horizon "
            f"{config.model.horizon} and the backtest need at least {needed}; fetch more history "
            f"(source.history_days) or lower model.window / backtest.origins_per_fold"
        )
    return PreparedSeries(key, frame, target_series(frame, config.model.target), gaps)
