"""Four-part decomposition of a series: trend + cycle + seasonal + irregular == y.

How the parts are made (`decompose`):

1. **seasonal** — MSTL (several periods) or STL (one period) from statsmodels, fitted to a copy
   of `y` pre-adjusted as X-13/TRAMO do before seasonal adjustment: level shifts (one-candle
   changes over 5 robust sigmas that hold) subtracted from there on, and isolated outliers
   (more than 5 robust sigmas from the median of their four neighbours) replaced by that
   median. LOESS would otherwise smear a price spike or a jump over the same hours of the
   neighbouring days. The seasonal smoothers are local-constant over 23 cycles (31 for the
   second period): a stable pattern that takes in about 15% of a one-candle move anywhere,
   where statsmodels' defaults (local-linear over 11 and 15 cycles) take in about 60% near
   the end of the series, exactly where each run judges its newest candles. The trend and
   low-pass smoothers inside STL are evaluated every ceil(window / 10) points and interpolated,
   as R's `stl` does: several times faster, and the seasonal moves by about 1% of its own
   standard deviation. Each period's part is kept as `seasonal_<p>`; `seasonal` is their sum
   (zero when no period is left).
2. **level** — a centred running median of the deseasonalised series over 5 candles. A median
   keeps steps sharp and ignores single-candle excursions, so a level shift stays in the level
   and a spike stays in the irregular part.
3. **trend** — a Hodrick-Prescott filter of the level, with lambda chosen so that the filter
   passes half of a fluctuation whose period is four times the timeframe's longest seasonal
   period (four weeks for 1h, 28 days for 1d; `hp_lambda`). **cycle** is the level minus the
   trend: the fluctuations around the trend that are slower than a few candles.
4. **irregular** — the deseasonalised series minus the level.

By construction the four parts add up to `y` to float precision.

Prices are decomposed on a log scale (`decompose_candles`): a market's seasonal swing and its
noise scale with the price, so additive parts of log(price) are multiplicative parts of the
price, and an irregular value of 0.05 means "5% away from the level" whatever the price.
`decompose` itself is additive on whatever series it is given.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Literal

import numpy as np
import pandas as pd
from statsmodels.tsa.filters.hp_filter import hpfilter
from statsmodels.tsa.seasonal import MSTL, STL

from candlecast.core.errors import ConfigError, DataError
from candlecast.core.market.candles import require_frame
from candlecast.core.market.timeframes import seasonal_periods

LEVEL_WINDOW = 5
"""Candles in the centred running median that separates the level from the irregular part."""

MIN_OBSERVATIONS = 4 * LEVEL_WINDOW
"""Fewest values `decompose` accepts: below this the level and trend are not meaningful."""

MIN_CYCLES = 2
"""A seasonal period needs more than this many full periods of history, else it is dropped."""

TREND_CUTOFF_PERIODS = 4
"""The HP trend passes half of a fluctuation this many times the longest seasonal period long."""

DEFAULT_TREND_CUTOFF = 64
"""Trend cutoff in candles for a timeframe without known seasonal periods."""

SEASONAL_WINDOW = 23
"""Cycles the shortest period's seasonal smoother spans (each further period 8 more)."""

SEASONAL_WINDOW_STEP = 8

_OUTLIER_SIGMAS = 5.0
_LOESS_JUMP_FRACTION = 0.1

COMPONENTS = ("trend", "cycle", "seasonal", "irregular")

Scale = Literal["level", "log"]


@dataclass(frozen=True)
class Decomposition:
    """The four parts of a series, what was used and what was dropped.

    `components` has the columns trend, cycle, seasonal, irregular (their sum is the decomposed
    series) and one `seasonal_<p>` per period used (their sum is `seasonal`). `scale` says what
    was decomposed: the values as given ("level") or their logarithm ("log").
    """

    components: pd.DataFrame
    periods: tuple[int, ...]
    dropped: dict[int, str] = field(default_factory=dict)
    method: str = ""
    cycle_lambda: float = 0.0
    scale: Scale = "level"

    @property
    def trend(self) -> pd.Series:
        return self.components["trend"]

    @property
    def cycle(self) -> pd.Series:
        return self.components["cycle"]

    @property
    def seasonal(self) -> pd.Series:
        return self.components["seasonal"]

    @property
    def irregular(self) -> pd.Series:
        return self.components["irregular"]

    @property
    def level(self) -> pd.Series:
        """trend + cycle: where the deseasonalised series is, candle by candle."""
        return (self.components["trend"] + self.components["cycle"]).rename("level")

    @property
    def deseasonalised(self) -> pd.Series:
        """trend + cycle + irregular: the series with its seasonal pattern removed."""
        parts = self.components
        return (parts["trend"] + parts["cycle"] + parts["irregular"]).rename("deseasonalised")

    @property
    def observed(self) -> pd.Series:
        """The decomposed series, rebuilt from its four parts."""
        return self.components[list(COMPONENTS)].sum(axis=1).rename("observed")


def hp_lambda(cutoff: float) -> float:
    """HP smoothing parameter whose filter passes half of a fluctuation `cutoff` candles long.

    The HP trend's gain at frequency w is 1 / (1 + 4 lambda (1 - cos w)^2); it is 1/2 at
    w = 2 pi / cutoff. (1600 for quarterly data corresponds to a cutoff of about 40 quarters.)
    """
    if not math.isfinite(cutoff) or cutoff <= 2:
        raise ConfigError(f"HP cutoff must be a number of candles above 2, got {cutoff!r}")
    return 1.0 / (4.0 * (1.0 - math.cos(2.0 * math.pi / cutoff)) ** 2)


def trend_cutoff(timeframe: str) -> int:
    """Candles per trend cutoff: 4x the timeframe's longest seasonal period (672 for 1h)."""
    periods = seasonal_periods(timeframe)
    return TREND_CUTOFF_PERIODS * max(periods) if periods else DEFAULT_TREND_CUTOFF


def decompose(
    y: pd.Series,
    timeframe: str,
    *,
    periods: Sequence[int] | None = None,
    cycle_lambda: float | None = None,
) -> Decomposition:
    """Split `y` into trend, cycle, seasonal and irregular parts that add up to `y`.

    `periods` defaults to the timeframe's seasonal periods (24 and 168 for "1h"); a period the
    history cannot support (`MIN_CYCLES` full periods or fewer) is dropped and the reason is kept
    in `Decomposition.dropped`. `cycle_lambda` overrides the HP lambda that splits trend from
    cycle (default `hp_lambda(trend_cutoff(timeframe))`).
    """
    values = _checked_values(y)
    wanted = _checked_periods(periods if periods is not None else seasonal_periods(timeframe))
    lamb = _checked_lambda(cycle_lambda, timeframe)
    n = len(values)

    used = tuple(p for p in wanted if n > MIN_CYCLES * p)
    dropped = {
        p: (
            f"period {p} needs more than {MIN_CYCLES} full periods ({MIN_CYCLES * p} candles) "
            f"of history, got {n}"
        )
        for p in wanted
        if p not in used
    }

    seasonal_parts, seasonal_method = _seasonal(values, used)
    seasonal = seasonal_parts.sum(axis=0) if used else np.zeros(n)
    deseasonalised = values - seasonal
    level = _running_median(deseasonalised)
    _, trend = hpfilter(level, lamb)
    trend = np.asarray(trend, dtype="float64")
    cycle = level - trend
    irregular = deseasonalised - level

    columns: dict[str, np.ndarray] = {
        "trend": trend,
        "cycle": cycle,
        "seasonal": seasonal,
        "irregular": irregular,
    }
    for p, part in zip(used, seasonal_parts, strict=True):
        columns[f"seasonal_{p}"] = part
    components = pd.DataFrame(columns, index=y.index)
    method = (
        f"{seasonal_method}; level = running median({LEVEL_WINDOW}); "
        f"trend = HP(lambda={lamb:.4g}) of the level; cycle = level - trend"
    )
    return Decomposition(
        components=components,
        periods=used,
        dropped=dropped,
        method=method,
        cycle_lambda=lamb,
        scale="level",
    )


def decompose_candles(
    frame: pd.DataFrame,
    timeframe: str,
    *,
    column: str = "close",
    periods: Sequence[int] | None = None,
    cycle_lambda: float | None = None,
) -> Decomposition:
    """Decompose log(`column`) of a candle frame: the price decomposition the flow reports and
    the anomaly detectors score (see the module docstring for why log)."""
    frame = require_frame(frame)
    if column not in frame.columns:
        raise DataError(
            f"column {column!r} is not in the candle frame; use one of {', '.join(frame.columns)}"
        )
    prices = frame[column].astype("float64")
    bad = ~(prices > 0)
    if bad.any():
        first = prices.index[bad.to_numpy()][0]
        raise DataError(
            f"{column} must be positive to be decomposed on a log scale; "
            f"{int(bad.sum())} value(s) are not (first at {first}: {prices[first]!r})"
        )
    result = decompose(
        np.log(prices).rename(column), timeframe, periods=periods, cycle_lambda=cycle_lambda
    )
    return replace(result, scale="log", method=f"log({column}): {result.method}")


def _checked_values(y: pd.Series) -> np.ndarray:
    if not isinstance(y, pd.Series):
        raise DataError(f"y must be a pandas Series, got {type(y).__name__}")
    try:
        values = y.to_numpy(dtype="float64")
    except (TypeError, ValueError) as exc:
        raise DataError(f"y must hold numbers, got dtype {y.dtype}") from exc
    if len(values) < MIN_OBSERVATIONS:
        raise DataError(f"y has {len(values)} values; decompose needs at least {MIN_OBSERVATIONS}")
    missing = ~np.isfinite(values)
    if missing.any():
        first = y.index[int(np.argmax(missing))]
        raise DataError(
            f"y has {int(missing.sum())} missing or infinite value(s) (first at {first}); "
            f"decompose needs {len(values)} finite values: fill gaps (synthetic candles) first"
        )
    return values


def _checked_periods(periods: Sequence[int]) -> tuple[int, ...]:
    checked: set[int] = set()
    for p in periods:
        if isinstance(p, bool) or not isinstance(p, int | np.integer) or p < 2:
            raise ConfigError(f"periods must be integers of at least 2 candles, got {p!r}")
        checked.add(int(p))
    return tuple(sorted(checked))


def _checked_lambda(cycle_lambda: float | None, timeframe: str) -> float:
    if cycle_lambda is None:
        return hp_lambda(trend_cutoff(timeframe))
    if not isinstance(cycle_lambda, int | float) or not math.isfinite(cycle_lambda):
        raise ConfigError(f"cycle_lambda must be a positive number, got {cycle_lambda!r}")
    if cycle_lambda <= 0:
        raise ConfigError(f"cycle_lambda must be a positive number, got {cycle_lambda!r}")
    return float(cycle_lambda)


def _seasonal(values: np.ndarray, periods: tuple[int, ...]) -> tuple[np.ndarray, str]:
    """One row per period: MSTL for several periods, STL for one. Empty when none."""
    if not periods:
        return np.zeros((0, len(values))), "seasonal = 0 (no period supported)"
    cleaned = _seasonal_input(values)
    windows = tuple(SEASONAL_WINDOW + SEASONAL_WINDOW_STEP * i for i in range(len(periods)))
    # LOESS jumps sized on the shortest period's STL windows (MSTL shares one stl_kwargs).
    config = STL(cleaned, period=periods[0], seasonal=windows[0]).config
    settings: dict[str, int | bool | None] = {
        "seasonal_deg": 0,
        "trend_jump": math.ceil(_LOESS_JUMP_FRACTION * config["trend"]),
        "low_pass_jump": math.ceil(_LOESS_JUMP_FRACTION * config["low_pass"]),
    }
    if len(periods) == 1:
        result = STL(cleaned, period=periods[0], seasonal=windows[0], **settings).fit()
        parts = np.asarray(result.seasonal, dtype="float64")[None, :]
        return parts, f"STL(period={periods[0]}, seasonal={windows[0]}, local constant)"
    result = MSTL(cleaned, periods=periods, windows=windows, stl_kwargs=settings).fit()
    parts = np.asarray(result.seasonal, dtype="float64").T
    return parts, f"MSTL(periods={periods}, windows={windows}, local constant)"


def _seasonal_input(values: np.ndarray) -> np.ndarray:
    """`values` pre-adjusted for the seasonal fit: level shifts and isolated outliers out.

    A level shift is a one-candle change larger than `_OUTLIER_SIGMAS` robust sigmas of those
    changes that holds (the median of the next `LEVEL_WINDOW` values differs from that of the
    previous ones by at least half of it, in its direction); it is subtracted from there on.
    Then an outlier is a value more than `_OUTLIER_SIGMAS` robust sigmas from the median of its
    four neighbours; it is replaced by that median. (Steps first: a neighbour median that
    straddles a step would make the step look like two outliers.)
    """
    change = np.diff(values, prepend=values[0])
    series = pd.Series(values)
    before = series.rolling(LEVEL_WINDOW, min_periods=1).median().shift(1).to_numpy()
    after = series[::-1].rolling(LEVEL_WINDOW, min_periods=1).median()[::-1].to_numpy()
    held = after - before
    shifts = (
        (np.abs(change) > _OUTLIER_SIGMAS * _robust_sigma(change))
        & (np.sign(held) == np.sign(change))
        & (np.abs(held) >= 0.5 * np.abs(change))
    )
    level_free = values - np.cumsum(np.where(shifts, change, 0.0))
    n = len(values)
    padded = np.concatenate([np.full(2, np.nan), level_free, np.full(2, np.nan)])
    around = np.nanmedian(np.stack([padded[k : k + n] for k in (0, 1, 3, 4)]), axis=0)
    deviation = level_free - around
    outliers = np.abs(deviation) > _OUTLIER_SIGMAS * _robust_sigma(deviation)
    return np.where(outliers, around, level_free)


def _running_median(values: np.ndarray) -> np.ndarray:
    return pd.Series(values).rolling(LEVEL_WINDOW, center=True, min_periods=1).median().to_numpy()


def _robust_sigma(values: np.ndarray) -> float:
    """1.4826 x MAD; the mean absolute deviation where MAD is 0 (mostly equal values)."""
    deviation = np.abs(values - np.median(values))
    mad = float(np.median(deviation))
    return 1.4826 * mad if mad > 0 else 1.2533 * float(np.mean(deviation))
