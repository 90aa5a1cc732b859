"""How volatile a series is at each moment, causally: the scale that volatility-normalised
intervals follow.

The volatility at position t is an exponentially weighted mean of the absolute one-step changes
up to t (log returns for positive series such as prices, plain differences otherwise), with a
half-life in candles. It is known at t: a band published at t may be scaled by it. Dividing a
model's backtest residuals by the volatility at their origin makes turbulent and calm origins
comparable, so conformal quantiles of those scores, multiplied by today's volatility, widen the
bands in turbulent hours and narrow them in calm ones, with the same finite-sample guarantee for
exchangeable scores.

The mean absolute change over a couple of days tracked the next day's spread as well as a
GARCH(1,1) variance on both hourly BTC files of the benchmark, and better than squared changes
or half-lives of hours or a week (bench/forecast; docs/forecasting.md).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from candlecast.core.errors import DataError

MIN_CHANGES = 8
"""Changes needed before the estimate is trusted; earlier positions have none (NaN)."""


def one_step_changes(values: np.ndarray, mode: str, traded: np.ndarray | None = None) -> np.ndarray:
    """`[n]` changes from the previous value: log ratios in "relative" mode, differences in
    "absolute" mode; NaN at 0 and where either value is missing or not traded."""
    y = np.asarray(values, dtype="float64")
    changes = np.full(len(y), np.nan)
    if len(y) < 2:
        return changes
    if mode == "relative":
        with np.errstate(divide="ignore", invalid="ignore"):
            logs = np.where(y > 0, np.log(np.where(y > 0, y, 1.0)), np.nan)
        changes[1:] = np.diff(logs)
    elif mode == "absolute":
        changes[1:] = np.diff(y)
    else:
        raise DataError(f"volatility mode must be 'relative' or 'absolute', got {mode!r}")
    if traded is not None:
        ok = np.asarray(traded, dtype=bool)
        changes[1:][~(ok[1:] & ok[:-1])] = np.nan
    changes[~np.isfinite(changes)] = np.nan
    return changes


def ewma_volatility(changes: np.ndarray, halflife: float) -> np.ndarray:
    """`[n]` exponentially weighted mean of `|changes|` up to each position (missing changes
    skipped), NaN until `MIN_CHANGES` changes are in."""
    if not halflife > 0:
        raise DataError(f"the volatility half-life must be positive (candles), got {halflife!r}")
    magnitude = pd.Series(np.abs(np.asarray(changes, dtype="float64")))
    scale = magnitude.ewm(halflife=halflife, ignore_na=True, min_periods=MIN_CHANGES).mean()
    out = scale.to_numpy(dtype="float64", copy=True)
    out[~(out > 0)] = np.nan  # a flat stretch has no scale to divide by
    return out


def volatility(
    values: np.ndarray, mode: str, halflife: float, traded: np.ndarray | None = None
) -> np.ndarray:
    """The volatility at every position of `values` (see the module docstring)."""
    return ewma_volatility(one_step_changes(values, mode, traded), halflife)
