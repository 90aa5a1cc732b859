"""`SeriesPlan`: every length a run derives from its configuration, computed once.

The window and horizon, the walk-forward layout, the fewest candles a series needs, how far back
a run loads and how far back the decomposition and the detectors look: the flow, `candlecast
backtest`, `candlecast fetch` and a report rebuilt from the database all take them from here, so
that no two places can disagree on a slack or a look-back.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd

from candlecast.core.config import Config
from candlecast.core.errors import ConfigError
from candlecast.core.evaluation.folds import FoldSpec
from candlecast.core.market.timeframes import timeframe_seconds

TRAIN_SLACK = 50
"""Training windows the first fold has at least, beyond one window and one horizon: enough to
train on and to hold out a validation tail for early stopping."""

MIN_ORIGINS = 48
"""The fewest backtest origins a derived layout has (`backtest.span_days` of a daily series is
only a few origins): enough residuals per step for 95% intervals, and to score them."""


def candles_per_day(config: Config) -> float:
    return 86_400 / timeframe_seconds(config.source.timeframe)


def backtest_origins(config: Config) -> int:
    """Origins per fold: `backtest.origins_per_fold`, or enough to cover `span_days` at the
    timeframe and step (at least `MIN_ORIGINS` in all)."""
    backtest = config.backtest
    if backtest.origins_per_fold is not None:
        return backtest.origins_per_fold
    step = backtest.resolved_step(config.model.horizon)
    total = max(math.ceil(backtest.span_days * candles_per_day(config) / step), MIN_ORIGINS)
    return math.ceil(total / backtest.folds)


@dataclass(frozen=True)
class SeriesPlan:
    """The lengths of one run, the same for every series of the configured universe.

    window            input candles per network sample
    horizon           candles forecast from each origin
    folds             the walk-forward layout of the backtest (origins, step, first fit)
    min_candles       the fewest usable candles a series needs: the backtest's layout with
                      `TRAIN_SLACK` training windows before its first origin
    history           how far back from the newest candle a run loads
    anomaly_lookback  how far back from the newest candle the decomposition and the detectors
                      look (the report shows the same decomposition)
    max_gap           the longest gap (candles) filled with synthetic candles
    on_long_gap       what a longer gap does: "split" keeps the newest part, "fail" stops
    targets           what is forecast (close, volume, ...), each on its own
    intervals         "normalised" (bands follow volatility) or "static"
    volatility_halflife  the volatility estimate's half-life, in candles
    """

    window: int
    horizon: int
    folds: FoldSpec
    history: pd.Timedelta
    anomaly_lookback: pd.Timedelta
    max_gap: int
    on_long_gap: str
    targets: tuple[str, ...] = ("close",)
    intervals: str = "normalised"
    volatility_halflife: float = 48.0

    @classmethod
    def from_config(cls, config: Config) -> SeriesPlan:
        model, backtest = config.model, config.backtest
        min_train = model.window + model.horizon + TRAIN_SLACK
        sliding = backtest.scheme == "sliding"
        if sliding and backtest.sliding_window is not None and backtest.sliding_window < min_train:
            raise ConfigError(
                f"backtest.sliding_window = {backtest.sliding_window} is shorter than one "
                f"model.window ({model.window}) plus one model.horizon ({model.horizon}) plus "
                f"{TRAIN_SLACK} training windows: set it to at least {min_train}"
            )
        folds = FoldSpec(
            folds=backtest.folds,
            step=backtest.resolved_step(model.horizon),
            horizon=model.horizon,
            scheme=backtest.scheme,
            window=backtest.sliding_window if sliding else None,
            refit=backtest.refit,
            min_train=min_train,
            origins_per_fold=backtest_origins(config),
        )
        return cls(
            window=model.window,
            horizon=model.horizon,
            folds=folds,
            history=pd.Timedelta(days=config.source.history_days),
            anomaly_lookback=pd.Timedelta(days=config.anomalies.lookback_days),
            max_gap=config.source.max_gap,
            on_long_gap=config.source.on_long_gap,
            targets=tuple(model.targets),
            intervals=backtest.intervals,
            volatility_halflife=backtest.volatility_halflife_days * candles_per_day(config),
        )

    @property
    def min_candles(self) -> int:
        return self.folds.required_candles()

    def history_start(self, newest: pd.Timestamp) -> pd.Timestamp:
        """The oldest open time a run loads: `history` before the newest stored candle."""
        return pd.Timestamp(newest) - self.history

    def anomaly_window(self, frame: pd.DataFrame) -> pd.DataFrame:
        """The candles of `frame` within `anomaly_lookback` of its newest one: what is
        decomposed, judged by the detectors and shown in the report."""
        if frame.empty:
            return frame
        start = pd.Timestamp(frame.index[-1]) - self.anomaly_lookback
        return frame[frame.index > start]
