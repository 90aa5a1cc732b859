"""Raw surprise: how badly cheap one-step-ahead predictions missed each new value.

Each *feature* predicts value t from values before t only, and turns the miss into a raw
surprise in [0, 1]: 0 for a miss of up to `z_start` times the stream's usual miss (the
exponentially weighted mean absolute miss before t, floored at a thousandth of the range seen so
far), rising linearly to 1 at `z_start + z_span` times. The features:

- `novelty`: the value leaves the range seen so far by more than `novelty_margin` of that range
  (1 or 0; after Numenta's "spatial anomaly");
- `level`: an exponentially weighted level (`level_span` candles) as the prediction;
- `shift`: the mean of the last `shift_short` values against the mean of the `shift_long`
  before them, in units of their standard deviation (a level that moved and stays);
- `context`: 1 when the value's bin follows the bins of the `context_length` values before it
  in a way never seen before (after contextOSE's contexts): values are cut into
  `context_bins` bins over the range of the first `context_learn` values (widened by a quarter
  on each side); a pattern that has always repeated and now does not is a surprise even when
  every value is ordinary. 0 over the first `context_learn` values, which only teach it;
- `forecast`: the champion's published forecast for the candle as the prediction, in units of
  its interval's half-width (only where one exists; see `forecast_surprise`).

All are trailing computations: the value at t never changes when later values arrive.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from candlecast.core.anomalies.robust import MAD_TO_SIGMA, MEAN_AD_TO_SIGMA
from candlecast.core.errors import ConfigError

FEATURES = ("novelty", "level", "shift", "context")
"""The cheap causal features, in the order they are reported."""

JUMP = "jump"
"""Not a ramped feature: the size of each change from the previous value, in units of the
stream's usual change (`jump_size`); `stream.py` ranks it against the stream's own history."""

REVERSAL = "reversal"
"""Not a ramped feature: a change that undid the one before it, by the smaller of the two
(`reversal_size`); ranked like the jump."""

BURST = "burst"
"""Not a ramped feature either: the recent variance of the changes over their usual variance
(`variance_ratio`); ranked like the jump."""

FORECAST = "forecast"


@dataclass(frozen=True)
class SurpriseSettings:
    """The predictors' windows and the miss that counts as a surprise. The defaults are the one
    configuration used on every series (and every file of the NAB benchmark)."""

    z_start: float = 3.0
    z_span: float = 3.0
    scale_span: int = 500
    level_span: int = 10
    shift_short: int = 10
    shift_long: int = 200
    novelty_margin: float = 0.05
    range_floor: float = 1e-3
    context_bins: int = 16
    context_length: int = 3
    context_learn: int = 300
    variance_window: int = 9

    def __post_init__(self) -> None:
        for name in (
            "scale_span",
            "level_span",
            "shift_short",
            "shift_long",
            "context_bins",
            "context_length",
            "context_learn",
            "variance_window",
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(
                    f"surprise {name} must be a positive count of candles, got {value!r}"
                )
        for name in ("z_start", "z_span", "novelty_margin", "range_floor"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
                raise ConfigError(f"surprise {name} must be a positive number, got {value!r}")


def surprise_features(
    values: ArrayLike, settings: SurpriseSettings = SurpriseSettings()
) -> dict[str, np.ndarray]:
    """Each feature's raw surprise per value, in [0, 1]; NaN values score 0 and are skipped
    by the predictors (the previous value carries on)."""
    x = pd.Series(np.asarray(values, dtype="float64")).ffill().bfill().to_numpy()
    n = len(x)
    if n == 0:
        return {name: np.zeros(0) for name in FEATURES}
    low = np.minimum.accumulate(x)
    high = np.maximum.accumulate(x)
    seen_low = np.concatenate([[x[0]], low[:-1]])
    seen_high = np.concatenate([[x[0]], high[:-1]])
    seen_range = seen_high - seen_low
    floor = settings.range_floor * seen_range + 1e-12

    margin = settings.novelty_margin * seen_range
    novelty = ((x > seen_high + margin) | (x < seen_low - margin)).astype("float64")

    level = (
        pd.Series(x).ewm(span=settings.level_span, adjust=False).mean().shift(1).to_numpy(copy=True)
    )
    level[0] = x[0]
    level_miss = _miss(x - level, floor, settings)

    series = pd.Series(x)
    recent = series.rolling(settings.shift_short, min_periods=1).mean()
    before = series.shift(settings.shift_short).rolling(
        settings.shift_long, min_periods=max(2, settings.shift_long // 10)
    )
    spread = np.fmax(np.nan_to_num(before.std().to_numpy()), floor)
    shift_z = np.abs(recent.to_numpy() - before.mean().to_numpy()) / spread
    shift = _ramp(shift_z, settings)

    missing = ~np.isfinite(np.asarray(values, dtype="float64"))
    context = context_novelty(x, settings)
    features = {
        "novelty": novelty,
        "level": level_miss,
        "shift": shift,
        "context": context,
    }
    return {name: np.where(missing, 0.0, np.nan_to_num(v)) for name, v in features.items()}


def jump_size(values: ArrayLike, settings: SurpriseSettings = SurpriseSettings()) -> np.ndarray:
    """|change from the previous value| over the stream's usual one (the exponentially weighted
    mean absolute change before it, `scale_span` candles, floored like the features' scale); 0
    for NaN values and the first one. From values up to each one only."""
    raw = np.asarray(values, dtype="float64")
    x = pd.Series(raw).ffill().bfill().to_numpy()
    if x.size == 0:
        return np.zeros(0)
    floor = _range_floor(x, settings)
    change = np.abs(np.diff(x, prepend=x[0]))
    usual = pd.Series(change).ewm(span=settings.scale_span, adjust=False).mean().shift(1)
    scale = np.fmax(np.nan_to_num(usual.to_numpy(), nan=np.inf), floor)
    return np.where(np.isfinite(raw), change / scale, 0.0)


def reversal_size(values: ArrayLike, settings: SurpriseSettings = SurpriseSettings()) -> np.ndarray:
    """The smaller `jump_size` of this change and the one before it when they go opposite ways
    (a print out and back: a spike, a bad tick), else 0; scored on the move back. A move out
    and back of a given size is much rarer than a move of that size, so it ranks as rarer.
    From values up to each one only."""
    x = pd.Series(np.asarray(values, dtype="float64")).ffill().bfill().to_numpy()
    sizes = jump_size(values, settings)
    if x.size == 0:
        return np.zeros(0)
    way = np.sign(np.diff(x, prepend=x[0]))
    before = np.concatenate([[0.0], sizes[:-1]])
    turned = way * np.concatenate([[0.0], way[:-1]]) < 0
    return np.where(turned, np.fmin(sizes, before), 0.0)


def variance_ratio(
    values: ArrayLike, settings: SurpriseSettings = SurpriseSettings()
) -> np.ndarray:
    """Median jump size (`jump_size`) of the last `variance_window` values: about 0.7 on a calm
    stream; it rises only once most changes of the window are large, so a spike out and back
    or a flash crash and its recovery (a few large changes) is not a burst, and a volatility
    burst is one once it fills half the window. From values up to each one only."""
    sizes = pd.Series(jump_size(values, settings))
    ratio = sizes.rolling(settings.variance_window, min_periods=1).median().to_numpy()
    return np.where(np.isfinite(np.asarray(values, dtype="float64")), ratio, 0.0)


def context_novelty(x: np.ndarray, settings: SurpriseSettings) -> np.ndarray:
    """1 where (bins of the previous `context_length` values, bin of this one) is new."""
    n = x.size
    raw = np.zeros(n)
    learn = settings.context_learn
    if n <= learn:
        return raw
    first = x[:learn]
    low, high = float(np.min(first)), float(np.max(first))
    span = high - low if high > low else abs(high) + 1.0
    low, high = low - span / 4.0, high + span / 4.0
    bins = np.clip(((x - low) / (high - low) * settings.context_bins).astype(int), 0, None)
    bins = np.minimum(bins, settings.context_bins - 1).tolist()
    k = settings.context_length
    seen: set[tuple[int, ...]] = set()
    for t in range(k, n):
        key = tuple(bins[t - k : t + 1])
        if key not in seen:
            seen.add(key)
            if t >= learn:
                raw[t] = 1.0
    return raw


def forecast_surprise(
    values: ArrayLike,
    predicted: ArrayLike,
    half_width: ArrayLike,
    settings: SurpriseSettings = SurpriseSettings(),
) -> np.ndarray:
    """Raw surprise of each value against a published forecast of it: the miss in units of the
    forecast interval's half-width, ramped like the other features; 0 where there is none."""
    x = np.asarray(values, dtype="float64")
    miss = np.abs(x - np.asarray(predicted, dtype="float64"))
    width = np.asarray(half_width, dtype="float64")
    z = np.where(np.isfinite(width) & (width > 0), miss / np.where(width > 0, width, 1.0), np.nan)
    # an interval's edge is about two sigma: the ramp starts where the other features' does
    return np.nan_to_num(_ramp(2.0 * z, settings))


def seasonal_surprise(
    values: ArrayLike, season: int | None, settings: SurpriseSettings = SurpriseSettings()
) -> np.ndarray:
    """Raw surprise of each value against the value one `season` before it (the same time of
    the previous day, say), in [0, 1], ramped like the features: a day that breaks the series'
    daily pattern (its peak missing, lower, flat) surprises this prediction where the level's
    sees nothing unusual. The usual miss is the median of the last `max(scale_span,
    3 x season)` misses, so an anomaly a season long does not become the usual in its own
    course. Only where the series repeats its season: where the value one season before has
    missed by less, on average over that window, than the value half a season before (on a
    random walk the older value is the further one, so a price series that does not repeat
    its day is not judged against it). 0 without a season (`None`, or one as long as the
    values), over the first season and for NaN values. From values up to each one only."""
    raw = np.asarray(values, dtype="float64")
    if season is not None and (
        isinstance(season, bool) or not isinstance(season, int) or season < 2
    ):
        raise ConfigError(f"season must be a count of at least 2 candles or None, got {season!r}")
    if season is None or season >= raw.size:
        return np.zeros(raw.size)
    x = pd.Series(raw).ffill().bfill().to_numpy()
    error = _change_over(x, season)
    window = max(settings.scale_span, 3 * season)
    usual = pd.Series(np.abs(error)).rolling(window, min_periods=window // 4).median().shift(1)
    floor = _range_floor(x, settings)
    usual = usual.to_numpy()
    miss = _ramp(np.abs(error) / (np.fmax(usual, floor) * MAD_TO_SIGMA), settings)
    opposite = _change_over(x, season // 2)
    seasonal = _mean_miss(error, window) < _mean_miss(opposite, window)
    return np.where(np.isfinite(raw) & np.isfinite(usual) & seasonal, miss, 0.0)


def _range_floor(x: np.ndarray, settings: SurpriseSettings) -> np.ndarray:
    """The smallest usual miss a scale may have at each value: `range_floor` of the range of
    the values before it (so a stream that never moved does not divide by zero)."""
    seen_range = np.maximum.accumulate(x) - np.minimum.accumulate(x)
    return settings.range_floor * np.concatenate([[0.0], seen_range[:-1]]) + 1e-12


def _change_over(x: np.ndarray, lag: int) -> np.ndarray:
    """x[t] - x[t - lag] (NaN over the first `lag` values)."""
    return np.concatenate([np.full(lag, np.nan), x[lag:] - x[:-lag]])


def _mean_miss(error: np.ndarray, window: int) -> np.ndarray:
    """The mean absolute miss of the `window` values before each one (NaN: too few yet)."""
    misses = pd.Series(np.abs(error)).rolling(window, min_periods=window // 4).mean()
    return misses.shift(1).to_numpy()


def _miss(error: np.ndarray, floor: np.ndarray, settings: SurpriseSettings) -> np.ndarray:
    """A one-step miss against the stream's usual miss before it, ramped into [0, 1]."""
    usual = (
        pd.Series(np.abs(error))
        .ewm(span=settings.scale_span, adjust=False)
        .mean()
        .shift(1)
        .to_numpy()
    )
    scale = np.fmax(np.nan_to_num(usual, nan=np.inf), floor) * MEAN_AD_TO_SIGMA
    return _ramp(np.abs(error) / scale, settings)


def _ramp(z: np.ndarray, settings: SurpriseSettings) -> np.ndarray:
    return np.clip((np.nan_to_num(z) - settings.z_start) / settings.z_span, 0.0, 1.0)
