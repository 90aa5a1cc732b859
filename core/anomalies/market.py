"""Market anomalies named for what they are.

A streaming score says *that* a candle is surprising; the kind says what happened, from the
candle, the ones before it and the `settle` candles after it (the detector declares them; the
flow judges a candle only once they exist):

- `frozen_price`: the close has not changed for `frozen_candles` candles or more (a stale feed);
- `bad_tick`: a one-candle print away from the price that the very next candle undoes (at least
  `tick_return` of the jump), the candles around it calm;
- `flash_crash`: a fall that recovers at least `recovery` of its depth within the settle candles
  (and does not overshoot its start by as much again);
- `spike`: the same upwards (a squeeze that comes back);
- `volatility_burst`: the median candle-to-candle change of the `burst_window` candles up to
  the last settle candle is `burst_ratio` times its usual size or more;
- `level_shift`: a move that holds (what remains);
- `volume_spike`: traded volume far above its usual profile (the volume detector's kind).

`KIND_TITLES` are the names an operator reads in the report and notifications.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from candlecast.core.anomalies.likelihood import empirical_rarity
from candlecast.core.errors import ConfigError

FLASH_CRASH = "flash_crash"
FROZEN_PRICE = "frozen_price"
BAD_TICK = "bad_tick"
VOLUME_SPIKE = "volume_spike"
VOLATILITY_BURST = "volatility_burst"
LEVEL_SHIFT = "level_shift"
SPIKE = "spike"

PRICE_KINDS = (FLASH_CRASH, FROZEN_PRICE, BAD_TICK, SPIKE, VOLATILITY_BURST, LEVEL_SHIFT)
"""The kinds the streaming price detector names."""

ESCALATIONS = frozenset({VOLATILITY_BURST})
"""Kinds an anomaly named otherwise can turn into as it goes on (a burst that opened with one
large move): a flag of one keeps its kind where it continues an anomaly of another."""

KIND_TITLES = {
    FLASH_CRASH: "flash crash with recovery",
    FROZEN_PRICE: "frozen (stale) price",
    BAD_TICK: "bad tick",
    VOLUME_SPIKE: "volume spike",
    VOLATILITY_BURST: "volatility burst",
    LEVEL_SHIFT: "level shift",
    SPIKE: "spike",
    "variance_burst": "variance burst",
    "forecast_breach": "forecast breach",
}


def kind_title(kind: str) -> str:
    """The kind in words ("flash crash with recovery"); unknown kinds with spaces for `_`."""
    return KIND_TITLES.get(kind, kind.replace("_", " "))


@dataclass(frozen=True)
class MarketRules:
    """What each kind means in candles; the defaults are used on every series."""

    frozen_candles: int = 6
    tick_return: float = 0.8
    recovery: float = 0.5
    burst_window: int = 6
    burst_ratio: float = 2.5
    scale_span: int = 500

    def __post_init__(self) -> None:
        for name in ("frozen_candles", "burst_window", "scale_span"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 2:
                raise ConfigError(f"{name} must be a count of at least 2 candles, got {value!r}")
        for name in ("tick_return", "recovery"):
            value = getattr(self, name)
            if not isinstance(value, int | float) or not 0.0 < value <= 1.0:
                raise ConfigError(f"{name} must be a share in (0, 1], got {value!r}")
        if not isinstance(self.burst_ratio, int | float) or not self.burst_ratio > 1.0:
            raise ConfigError(f"burst_ratio must be above 1, got {self.burst_ratio!r}")


def unchanged_run(values: np.ndarray) -> np.ndarray:
    """How many candles the value has stood still at each candle (1: it just changed)."""
    x = np.asarray(values, dtype="float64")
    if x.size == 0:
        return np.zeros(0, dtype=int)
    changed = np.concatenate([[True], ~(x[1:] == x[:-1])])
    starts = np.maximum.accumulate(np.where(changed, np.arange(x.size), 0))
    return np.arange(x.size) - starts + 1


def frozen_rarity(run: np.ndarray, least: int, learn: int) -> np.ndarray:
    """Rarity of each candle's run of unchanged closes (`unchanged_run`) among the runs of the
    candles before it (`likelihood.empirical_rarity`: a run longer than any this series has
    stood still reads as 1 in the candles seen), so a series that often repeats its close is
    not frozen when it does. 0 for runs shorter than `least` and over the first `learn`
    candles. From candles up to each one only."""
    lengths = np.asarray(run, dtype="float64")
    return np.where(lengths >= least, empirical_rarity(lengths, learn), 0.0)


def burst_ratio(values: np.ndarray, rules: MarketRules) -> np.ndarray:
    """Median absolute change of the last `burst_window` candles over the median absolute
    change of the `scale_span` candles before them (medians: one bad tick is not a burst)."""
    change = pd.Series(np.abs(np.diff(np.asarray(values, dtype="float64"), prepend=np.nan)))
    recent = change.rolling(rules.burst_window, min_periods=rules.burst_window // 2).median()
    usual = (
        change.rolling(rules.scale_span, min_periods=rules.scale_span // 10)
        .median()
        .shift(rules.burst_window)
    )
    return (recent / usual.where(usual > 0)).to_numpy()


def classify(
    values: np.ndarray,
    position: int,
    settle: int,
    rules: MarketRules = MarketRules(),
    *,
    frozen: np.ndarray | None = None,
    bursts: np.ndarray | None = None,
) -> str:
    """The kind of the surprising candle at `position` of `values` (closes; NaN: not traded),
    from the candles up to it and the `settle` candles after it. `frozen` and `bursts` are
    `unchanged_run(values)` and `burst_ratio(values)`, passed in when classifying many."""
    x = np.asarray(values, dtype="float64")
    run = unchanged_run(x) if frozen is None else frozen
    if run[position] >= rules.frozen_candles:
        return FROZEN_PRICE
    base = _previous(x, position)
    after = x[position + 1 : position + 1 + settle]
    after = after[np.isfinite(after)]
    jump = x[position] - base if np.isfinite(base) else 0.0
    ratio = burst_ratio(x, rules) if bursts is None else bursts
    last = min(position + settle, x.size - 1)
    burst = bool(np.isfinite(ratio[last]) and ratio[last] >= rules.burst_ratio)
    if after.size and jump != 0.0 and np.isfinite(jump):
        if not burst and (x[position] - after[0]) / jump >= rules.tick_return:
            return BAD_TICK
        path = np.concatenate([[x[position]], after])
        extreme = path.min() if jump < 0 else path.max()
        depth = base - extreme
        recovered = (after[-1] - extreme) / depth if depth != 0 else 0.0
        # back to about where it was, not beyond: a swing past the start is a burst
        if rules.recovery <= recovered <= 1.0 + rules.recovery:
            return FLASH_CRASH if jump < 0 else SPIKE
    return VOLATILITY_BURST if burst else LEVEL_SHIFT


def _previous(x: np.ndarray, position: int) -> float:
    """The last traded value before `position` (NaN when none)."""
    before = x[:position]
    finite = np.flatnonzero(np.isfinite(before))
    return float(before[finite[-1]]) if finite.size else float("nan")


__all__ = [
    "BAD_TICK",
    "ESCALATIONS",
    "FLASH_CRASH",
    "FROZEN_PRICE",
    "KIND_TITLES",
    "LEVEL_SHIFT",
    "PRICE_KINDS",
    "SPIKE",
    "VOLATILITY_BURST",
    "VOLUME_SPIKE",
    "MarketRules",
    "burst_ratio",
    "classify",
    "frozen_rarity",
    "kind_title",
    "unchanged_run",
]
