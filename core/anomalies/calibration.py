"""Thresholds from a series' own history, at a target false-positive rate.

A detector turns each candle into a score (larger is more anomalous). `calibrate` picks the
threshold that the history's scores exceed at the target rate:

- the empirical (1 - fpr) quantile when at least `EMPIRICAL_TAIL` scores are expected beyond
  it, with plotting positions i / (n + 1), so that a new score from the same distribution
  exceeds it with probability fpr whatever the distribution;
- otherwise (small rates, short histories) a generalised Pareto tail fitted to the top
  `TAIL_FRACTION` of the scores by probability-weighted moments (Hosking & Wallis 1987; no
  optimiser, so no convergence failures) and extrapolated to the rate (peaks over threshold).
  The shape is kept between 0 (exponential tail) and 0.5: a bounded tail estimated from a few
  dozen scores would put the threshold too low, and the flags too many;
- never below the detector's `floor`, so a very quiet history does not make noise anomalous.

The same is done at fpr / 10 and fpr / 100; a flag's severity is the rarest level it reaches
(info, warning, critical).

The rate counts false alarms, so for a score that stays high for a while (a dispersion measured
over a window of candles), `cluster_gap` makes it count runs of flagged candles instead of
candles: the history's exceedances of its 99th percentile are grouped into runs (apart by more
than `cluster_gap` candles) and the per-candle rate is fpr times their mean length, the inverse
of the extremal index (the declustering used with peaks over threshold).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from candlecast.core.anomalies.flag import Severity
from candlecast.core.errors import ConfigError

MIN_SCORES = 30
"""Fewer finite scores than this and the threshold is the floor."""

EMPIRICAL_TAIL = 2.0
"""Use the empirical quantile when at least this many scores are expected above it."""

TAIL_FRACTION = 0.05
"""Share of the scores (at least `MIN_TAIL`) used to fit the tail."""

MIN_TAIL = 20

RUN_BASE_RATE = 0.01
"""Runs of exceedances are measured above the (1 - this) quantile of the history's scores."""

WARNING_RARITY = 10.0
CRITICAL_RARITY = 100.0

_MAX_SHAPE = 0.5
_MIN_SHAPE = 0.0


@dataclass(frozen=True)
class Threshold:
    """Flag at `value` or above; `warning` and `critical` are the rarer levels."""

    value: float
    warning: float
    critical: float
    target_fpr: float
    method: str
    n: int

    def severity(self, score: float) -> Severity | None:
        """The severity a score reaches, or None below the threshold."""
        if not score >= self.value:
            return None
        if score >= self.critical:
            return "critical"
        if score >= self.warning:
            return "warning"
        return "info"

    @property
    def rate(self) -> str:
        """The target rate in words: "1 in 3,000 candles"."""
        return f"1 in {round(1.0 / self.target_fpr):,} candles"


def check_fpr(target_fpr: float, what: str = "target_fpr") -> float:
    """`target_fpr` as a float in (0, 0.5), or a ConfigError naming it."""
    if (
        isinstance(target_fpr, bool)
        or not isinstance(target_fpr, int | float)
        or not 0.0 < float(target_fpr) < 0.5
    ):
        raise ConfigError(
            f"{what} must be a rate between 0 and 0.5 (e.g. 0.001), got {target_fpr!r}"
        )
    return float(target_fpr)


def calibrate(
    scores: ArrayLike, target_fpr: float, *, floor: float, cluster_gap: int | None = None
) -> Threshold:
    """The threshold the history's `scores` exceed at `target_fpr`, and the rarer levels.

    `scores` are non-negative, in time order, larger meaning more anomalous (zero where a
    detector's gate rejected the candle); non-finite values are ignored. With `cluster_gap`,
    `target_fpr` is a rate of runs of flagged candles rather than of candles.
    """
    fpr = check_fpr(target_fpr)
    ordered = np.asarray(scores, dtype="float64")
    ordered = ordered[np.isfinite(ordered)]
    x = np.sort(ordered)
    n = int(x.size)
    if n < MIN_SCORES:
        return Threshold(
            value=floor,
            warning=floor,
            critical=floor,
            target_fpr=fpr,
            method=f"floor {floor:g}: only {n} scores of history (calibration needs {MIN_SCORES})",
            n=n,
        )
    run = 1.0 if cluster_gap is None else mean_run_length(ordered, x, cluster_gap)
    levels = []
    methods = []
    for rarity in (1.0, WARNING_RARITY, CRITICAL_RARITY):
        value, method = tail_quantile(x, min(TAIL_FRACTION, fpr * run) / rarity)
        levels.append(max(floor, value))
        methods.append(method)
    value, warning, critical = levels
    warning = max(warning, value)
    critical = max(critical, warning)
    method = methods[0] if value > floor else f"floor {floor:g} (history: {methods[0]})"
    if cluster_gap is not None:
        method += f"; runs of {run:.1f} candles on average"
    return Threshold(value, warning, critical, fpr, method, n)


def mean_run_length(ordered: np.ndarray, sorted_scores: np.ndarray, gap: int) -> float:
    """Mean length of the runs of scores above their 99th percentile (1 / extremal index).

    Runs are apart by more than `gap` candles; `ordered` is in time order.
    """
    base = float(np.quantile(sorted_scores, 1.0 - RUN_BASE_RATE))
    above = np.flatnonzero(ordered > base)
    if above.size == 0:
        return 1.0
    runs = 1 + int(np.count_nonzero(np.diff(above) > gap + 1))
    return above.size / runs


def tail_quantile(sorted_scores: np.ndarray, rate: float) -> tuple[float, str]:
    """The score exceeded at `rate` by the ascending `sorted_scores`, and how it was found."""
    x = sorted_scores
    n = x.size
    beyond = rate * (n + 1)
    if beyond >= EMPIRICAL_TAIL:
        value = float(np.quantile(x, 1.0 - rate, method="weibull"))
        return value, f"empirical quantile of {n} scores"
    positive = int(np.count_nonzero(x > 0))
    if positive <= beyond:
        return 0.0, f"fewer than {rate:g} of {n} scores are positive"
    k = min(max(MIN_TAIL, math.ceil(TAIL_FRACTION * n)), positive)
    u = float(x[n - k - 1]) if n > k else 0.0
    excess = x[n - k :] - u
    excess = excess[excess > 0]
    if excess.size < MIN_TAIL // 2:
        return float(x[-1]), f"largest of {n} scores (tail too short to fit)"
    shape, scale = _gpd_pwm(excess)
    ratio = rate * n / excess.size
    if abs(shape) < 1e-6:
        value = u + scale * math.log(1.0 / ratio)
    else:
        value = u + scale / shape * (ratio ** (-shape) - 1.0)
    return float(value), (f"GPD tail (shape {shape:.2f}) over the top {excess.size} of {n} scores")


def _gpd_pwm(excess: np.ndarray) -> tuple[float, float]:
    """Generalised Pareto (shape xi, scale) of positive excesses by probability-weighted moments."""
    y = np.sort(excess)
    k = y.size
    plotting = (np.arange(1, k + 1) - 0.35) / k
    a0 = float(np.mean(y))
    a1 = float(np.mean((1.0 - plotting) * y))
    denominator = a0 - 2.0 * a1
    if denominator <= 0:
        return _MAX_SHAPE, a0 * (1.0 - _MAX_SHAPE)
    kappa = a0 / denominator - 2.0
    shape = min(_MAX_SHAPE, max(_MIN_SHAPE, -kappa))
    scale = 2.0 * a0 * a1 / denominator if shape == -kappa else a0 * (1.0 - shape)
    return shape, scale
