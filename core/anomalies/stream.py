"""Streaming anomaly scores: each new value's surprise, as a likelihood, as one rarity.

For each value, from the values up to it only, six rarities (-log10 of a tail probability
/ 10, in [0, 1]):

1. `likelihood`: the raw surprise of the cheap predictors (`surprise.surprise_features`:
   level, shift, context, plus the champion's forecast where one exists), the largest of them
   per value, turned into one anomaly likelihood (`likelihood.log_tail`): the recent surprise
   against the stream's own history of surprise. Taking the largest raw surprise and judging
   it once keeps one feature's noise from being judged five times over;
2. `season`: the same likelihood of the surprise against the value one season before
   (`surprise.seasonal_surprise`; the season is a day of candles, passed in by the detector,
   none for daily candles; only where the series repeats it): a day that breaks the series'
   daily pattern, its peak missing, lower or flat, where every value is one the level has
   seen. A likelihood of its own, so that a series whose days differ a lot does not make
   every other feature's surprise look ordinary;
3. `novelty`: 1 when the value leaves the range seen so far by a margin (Numenta's "spatial
   anomaly": a value never seen is an anomaly whatever the likelihood says), at most once per
   `novelty_quiet` values on each side of the range (a value climbing out of its range sets a
   new record every candle),
   and not over the likelihood's learning period (the range is still being learnt);
4. `jump`: how rare the size of the change from the previous value is among the changes before
   it (`surprise.jump_size`, ranked by `likelihood.empirical_rarity`): a spike or a step is
   scored on its own candle, where the likelihood averages a few. A record is only as rare
   as the history is long (0.33 after 2,000 candles), so a jump alone reaches a threshold of
   1 in 500 and not one of 1 in 100,000;
5. `reversal`: the same for a move the next value undid (`surprise.reversal_size`: out and
   back, a spike or a bad tick), ranked among the reversals before it: much rarer than a move
   of its size, so a spike stands out where large moves are common;
6. `burst`: how rare the recent variance of the changes over their usual one is
   (`surprise.variance_ratio`), ranked the same way: a volatility burst is a record from its
   first few candles and stays one while it fills the window.

The candle's score is the largest of the six, with a quiet period on each likelihood: after
it reaches `quiet_level`, its next `quiet` values score at most just below that, so one
anomaly is one alarm and not a volley of them (the first alarm is the one that matters; every
later one would be another call on the operator). The driver is the part behind the score
(for the likelihood, the feature with the most surprise over its short window).

The scores never change when later values arrive (the streaming property; tests remove the
future and compare).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from candlecast.core.anomalies.likelihood import (
    LikelihoodSettings,
    empirical_rarity,
    log_tail,
    rarity,
)
from candlecast.core.anomalies.surprise import (
    BURST,
    FORECAST,
    JUMP,
    REVERSAL,
    SurpriseSettings,
    jump_size,
    reversal_size,
    seasonal_surprise,
    surprise_features,
    variance_ratio,
)
from candlecast.core.errors import ConfigError

QUIET_MARGIN = 0.99
"""Scores in a quiet period are capped at this share of the quiet level."""

NOVELTY = "novelty"
LIKELIHOOD = "likelihood"
SEASON = "season"
PARTS = (LIKELIHOOD, SEASON, NOVELTY, JUMP, REVERSAL, BURST)
"""The rarities a score is the largest of, in the order they are reported."""
AVERAGED = 2
"""The first AVERAGED parts are likelihoods of a window of surprise, quieted after an alarm."""


@dataclass(frozen=True)
class StreamSettings:
    """The whole configuration of the streaming score: one for every series."""

    surprise: SurpriseSettings = field(default_factory=SurpriseSettings)
    likelihood: LikelihoodSettings = field(default_factory=LikelihoodSettings)
    quiet: int = 150
    quiet_level: float = 0.5
    novelty_quiet: int = 50

    def __post_init__(self) -> None:
        for name in ("quiet", "novelty_quiet"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ConfigError(f"{name} must be a count of candles (0 or more), got {value!r}")
        if not isinstance(self.quiet_level, int | float) or not 0.0 < self.quiet_level <= 1.0:
            raise ConfigError(f"quiet_level must be a rarity in (0, 1], got {self.quiet_level!r}")


def stream_scores(
    values: ArrayLike,
    settings: StreamSettings = StreamSettings(),
    *,
    forecast_raw: ArrayLike | None = None,
    index: pd.Index | None = None,
    season: int | None = None,
) -> pd.DataFrame:
    """Per value: `score` (in [0, 1], after the quiet period), `rarity` (before it), `driver`
    (the part or feature behind it), one `rarity_<part>` column per part (likelihood, season,
    novelty, jump, reversal, burst) and one `raw_<feature>` column per raw surprise (and
    `raw_season`, and `raw_jump`, `raw_reversal` and `raw_burst`: the sizes ranked).

    `season` is the length of the series' season in values (a day of candles), None for none.

    `forecast_raw` is the raw surprise against published forecasts (0 where none), when any.
    """
    features = surprise_features(values, settings.surprise)
    if forecast_raw is not None:
        features[FORECAST] = np.nan_to_num(np.asarray(forecast_raw, dtype="float64"))
    # the champion's forecast first: of two features equally surprised, it names the driver
    judged = sorted((name for name in features if name != NOVELTY), key=lambda n: n != FORECAST)
    raw = np.vstack([features[name] for name in judged])  # [feature, value]
    likelihood = rarity(log_tail(raw.max(axis=0), settings.likelihood))
    # out of the range above and below are two anomalies: each is quieted on its own
    level = pd.Series(np.asarray(values, dtype="float64")).ffill().bfill().to_numpy()
    rising = np.diff(level, prepend=level[:1]) > 0
    novelty = np.zeros(level.size)
    for side in (rising, ~rising):
        novel = quiet_period(features[NOVELTY] * side, settings.novelty_quiet, 1.0)
        novelty = np.fmax(novelty, np.where(novel >= 1.0, 1.0, 0.0))
    novelty[: settings.likelihood.learn] = 0.0  # the range is still being learnt
    jumps = jump_size(values, settings.surprise)
    jump = empirical_rarity(jumps, settings.likelihood.learn)
    reversals = reversal_size(values, settings.surprise)
    reversal = empirical_rarity(reversals, settings.likelihood.learn)
    ratios = variance_ratio(values, settings.surprise)
    burst = empirical_rarity(ratios, settings.likelihood.learn, settings.surprise.variance_window)
    seasonal_raw = seasonal_surprise(values, season, settings.surprise)
    seasonal = rarity(log_tail(seasonal_raw, settings.likelihood))
    parts = np.vstack([likelihood, seasonal, novelty, jump, reversal, burst])  # in PARTS order
    # the likelihoods average a window: after an alarm each is quiet for a while
    quieted = np.max(
        [quiet_period(part, settings.quiet, settings.quiet_level) for part in parts[:AVERAGED]],
        axis=0,
    )
    # the feature behind the likelihood: the most surprised on the value itself, else the one
    # with the most surprise over the likelihood's short window
    recent = pd.DataFrame(raw.T).rolling(settings.likelihood.short, min_periods=1).mean()
    recent = np.where(raw.T.max(axis=1, keepdims=True) > 0, raw.T, recent.to_numpy())
    behind = np.asarray(judged, dtype=object)[np.argmax(recent, axis=1)]
    top = np.argmax(parts, axis=0)
    driver = np.where(top == 0, behind, np.asarray(PARTS, dtype=object)[top])
    frame = pd.DataFrame(
        {
            "score": np.fmax(quieted, parts[AVERAGED:].max(axis=0)),
            "rarity": parts.max(axis=0),
            "driver": driver.astype(object),
        },
        index=index,
    )
    for position, name in enumerate(PARTS):
        frame[f"rarity_{name}"] = parts[position]
    for name in features:
        frame[f"raw_{name}"] = features[name]
    frame[f"raw_{JUMP}"] = jumps
    frame[f"raw_{REVERSAL}"] = reversals
    frame[f"raw_{BURST}"] = ratios
    frame[f"raw_{SEASON}"] = seasonal_raw
    return frame


def quiet_period(scores: ArrayLike, length: int, level: float) -> np.ndarray:
    """`scores` with each of the `length` candles after one that reached `level` capped just
    below it (a candle inside a quiet period starts none)."""
    values = np.asarray(scores, dtype="float64").copy()
    if length <= 0:
        return values
    cap = level * QUIET_MARGIN
    until = -1
    for position in np.flatnonzero(values >= level).tolist():
        if position <= until:
            continue
        until = position + length
        stop = min(until + 1, values.size)
        values[position + 1 : stop] = np.minimum(values[position + 1 : stop], cap)
    return values
