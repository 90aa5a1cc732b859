"""Anomaly likelihood: how unusual the recent surprise of a stream is, for that stream.

After Numenta's HTM anomaly likelihood (Ahmad, Lavin, Purdy & Agha 2017, "Unsupervised real-time
anomaly detection for streaming data"). A raw surprise score in [0, 1] per candle (how badly a
cheap prediction missed it, see `surprise.py`) is not comparable across series: a noisy series
misses often. So, per candle t and from candles up to t only:

- the short mean: the mean raw surprise of the last `short` candles (t included);
- the long mean and standard deviation of the short means over the `long` candles before t
  (floored at `min_mean` and `min_std`, so that a stream that never surprises does not make a
  single small miss a certainty);
- the tail probability Q((short - long mean) / long sd) of a normal: small when the recent
  surprise is far above what this stream is used to. Below the long mean it is 1.

The first `learn` candles of a stream have no likelihood (tail 1/2: nothing is judged yet), and
the first half of them (the predictors' warm-up) is not part of the history either.
The likelihood 1 - tail is reported on a log scale as a *rarity*: -log10(tail) / `DECADES`,
clipped to [0, 1], so a rarity of 0.3 is a 1-in-1,000 tail and one threshold reads the same on
every series. Everything is a trailing window: the value at t never changes when later candles
arrive.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from scipy.special import log_ndtr

from candlecast.core.errors import ConfigError

DECADES = 10.0
"""A rarity of 1 is a tail probability of 10^-DECADES (one in ten billion) or smaller."""


@dataclass(frozen=True)
class LikelihoodSettings:
    """Windows and floors of the likelihood; the defaults are the one configuration used on
    every series (and on every file of the NAB benchmark)."""

    short: int = 30
    long: int = 5000
    learn: int = 300
    min_mean: float = 0.03
    min_std: float = 0.0173

    def __post_init__(self) -> None:
        for name in ("short", "long", "learn"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(
                    f"likelihood {name} must be a positive count of candles, got {value!r}"
                )
        if self.short >= self.long:
            raise ConfigError(
                f"likelihood short window ({self.short}) must be shorter than the long one "
                f"({self.long})"
            )
        for name in ("min_mean", "min_std"):
            value = getattr(self, name)
            if not isinstance(value, int | float) or not 0.0 < float(value) < 1.0:
                raise ConfigError(f"likelihood {name} must be between 0 and 1, got {value!r}")


def log_tail(raw: ArrayLike, settings: LikelihoodSettings = LikelihoodSettings()) -> np.ndarray:
    """Natural log of the tail probability of each candle's recent surprise (0 = not unusual).

    `raw` are surprise scores in [0, 1] in time order (NaN counts as no surprise).
    """
    values = pd.Series(np.nan_to_num(np.asarray(raw, dtype="float64"), nan=0.0))
    short = values.rolling(settings.short, min_periods=1).mean()
    # the predictors warm up over the first half of the learning period: their surprise there
    # says more about the warm-up than about the stream, so the history starts after it
    history = short.where(np.arange(len(short)) >= settings.learn // 2)
    past = history.shift(1).rolling(settings.long, min_periods=1)
    mean = np.fmax(past.mean().to_numpy(), settings.min_mean)
    std = np.fmax(np.nan_to_num(past.std().to_numpy()), settings.min_std)
    z = np.nan_to_num((short.to_numpy() - mean) / std)
    result = np.where(z > 0, log_ndtr(-np.fmax(z, 0.0)), 0.0)
    result[: settings.learn] = math.log(0.5)
    return result


def rarity(log_tail_values: ArrayLike) -> np.ndarray:
    """Log tail probabilities as rarities in [0, 1]: -log10(tail) / DECADES."""
    values = -np.asarray(log_tail_values, dtype="float64") / math.log(10.0) / DECADES
    return np.clip(np.nan_to_num(values, nan=0.0), 0.0, 1.0)


def empirical_rarity(values: ArrayLike, learn: int, delay: int = 1) -> np.ndarray:
    """Rarity of each value among the values before it: with k of the n earlier values at least
    as large, the tail probability is (k + 1) / (n + 1) (a value larger than all n before it
    reads as 1 in n + 1), as a rarity. It needs no model of the tail, so it is calibrated on
    any stream, and it cannot exceed log10(n + 1) / DECADES (0.33 after 2,000 values): a
    record is as rare as the history is long, no rarer. 0 over the first `learn` values, which
    only teach it; the first half of them (the measures' warm-up) is not part of the history.
    A value joins the history `delay` values after its own (a measure over a window of values
    is ranked against windows that do not overlap its own, so a long anomaly is not measured
    against itself). From values up to each one only."""
    if isinstance(delay, bool) or not isinstance(delay, int) or delay < 1:
        raise ConfigError(f"empirical_rarity delay must be a count of 1 or more, got {delay!r}")
    x = np.nan_to_num(np.asarray(values, dtype="float64"), nan=0.0)
    listed = x.tolist()
    result = np.zeros(x.size)
    seen: list[float] = []
    for position, value in enumerate(listed):
        joining = position - delay
        if joining >= learn // 2:
            bisect.insort(seen, listed[joining])
        if position >= learn and value > 0.0:
            at_least = len(seen) - bisect.bisect_left(seen, value)
            result[position] = math.log10((len(seen) + 1) / (at_least + 1)) / DECADES
    return np.clip(result, 0.0, 1.0)


def rarity_of_rate(rate: float) -> float:
    """The rarity that a tail probability `rate` reads as (0.3 for 1 in 1,000)."""
    return float(min(1.0, -math.log10(rate) / DECADES))


def rate_of_rarity(value: float) -> float:
    """The tail probability a rarity stands for (inverse of `rarity_of_rate`)."""
    return float(10.0 ** (-value * DECADES))
