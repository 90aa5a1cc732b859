"""Streaming anomaly scores: each new value's surprise, as a likelihood, as one rarity.

For each value, from the values up to it only:

1. the raw surprise of each cheap predictor (`surprise.surprise_features`, plus the champion's
   forecast where one exists);
2. each feature's anomaly likelihood (`likelihood.log_tail`): its recent surprise against the
   stream's own history of surprise;
3. the rarity of the most unusual feature (-log10 tail / 10, in [0, 1]) is the candle's score,
   and that feature is its `driver`;
4. a quiet period: after a score reaches `quiet_level`, the next `quiet` candles score at most
   just below it, so one anomaly is one alarm and not a volley of them (the first alarm is the
   one that matters; every later one would be another call on the operator).

The scores never change when later values arrive (the streaming property; tests remove the
future and compare).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from candlecast.core.anomalies.likelihood import LikelihoodSettings, log_tail, rarity
from candlecast.core.anomalies.surprise import FORECAST, SurpriseSettings, surprise_features
from candlecast.core.errors import ConfigError

QUIET_MARGIN = 0.99
"""Scores in a quiet period are capped at this share of the quiet level."""


@dataclass(frozen=True)
class StreamSettings:
    """The whole configuration of the streaming score: one for every series."""

    surprise: SurpriseSettings = field(default_factory=SurpriseSettings)
    likelihood: LikelihoodSettings = field(default_factory=LikelihoodSettings)
    quiet: int = 300
    quiet_level: float = 0.5

    def __post_init__(self) -> None:
        if isinstance(self.quiet, bool) or not isinstance(self.quiet, int) or self.quiet < 0:
            raise ConfigError(f"quiet must be a count of candles (0 or more), got {self.quiet!r}")
        if not isinstance(self.quiet_level, int | float) or not 0.0 < self.quiet_level <= 1.0:
            raise ConfigError(f"quiet_level must be a rarity in (0, 1], got {self.quiet_level!r}")


def stream_scores(
    values: ArrayLike,
    settings: StreamSettings = StreamSettings(),
    *,
    forecast_raw: ArrayLike | None = None,
    index: pd.Index | None = None,
) -> pd.DataFrame:
    """Per value: `score` (rarity after the quiet period, in [0, 1]), `rarity` (before it),
    `driver` (the feature behind it) and one `rarity_<feature>` column per feature.

    `forecast_raw` is the raw surprise against published forecasts (0 where none), when any.
    """
    features = surprise_features(values, settings.surprise)
    if forecast_raw is not None:
        features[FORECAST] = np.nan_to_num(np.asarray(forecast_raw, dtype="float64"))
    names = list(features)
    rarities = np.vstack([rarity(log_tail(features[n], settings.likelihood)) for n in names])
    n = rarities.shape[1]
    best = np.argmax(rarities, axis=0) if n else np.zeros(0, dtype=int)
    peak = rarities.max(axis=0) if n else np.zeros(0)
    frame = pd.DataFrame(
        {
            "score": quiet_period(peak, settings.quiet, settings.quiet_level),
            "rarity": peak,
            "driver": np.asarray(names, dtype=object)[best] if n else np.array([], dtype=object),
        },
        index=index,
    )
    for position, name in enumerate(names):
        frame[f"rarity_{name}"] = rarities[position]
        frame[f"raw_{name}"] = features[name]
    return frame


def quiet_period(scores: ArrayLike, length: int, level: float) -> np.ndarray:
    """`scores` with each of the `length` candles after one that reached `level` capped just
    below it (a candle inside a quiet period starts none)."""
    values = np.asarray(scores, dtype="float64").copy()
    if length <= 0:
        return values
    cap = level * QUIET_MARGIN
    until = -1
    for position in np.flatnonzero(values >= level):
        if position <= until:
            continue
        until = position + length
        stop = min(until + 1, values.size)
        values[position + 1 : stop] = np.minimum(values[position + 1 : stop], cap)
    return values
