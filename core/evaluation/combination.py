"""Forecast combination: the skill-weighted (or plain) mean of the learned candidates.

The most reliable result of the forecasting competitions (M3, M4): averaging several good
forecasts cancels part of their independent errors. The members are every network and every
statistical model of the selection backtest (the baselines, whose points are naive or
seasonal-naive, stay out), or only the best `top` of them; weights are 1 / the champion metric
("skill") or equal. The combined backtest is the weighted mean of their backtests on the same
origins, so the combination is scored, calibrated and chosen by the same rules as any model.

On the benchmark's hourly volume, which cell wins the test part is mostly the luck of its fit
(a cell's score moves by 1-1.5% between seeds, as much as the cells differ), so a validation
backtest cannot pick it; the mean of the four cells, Theta and ETS moves by 0.2% and beat the
single champion on every seed tried (bench/forecast; docs/forecasting.md).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from candlecast.core.errors import ConfigError, DataError
from candlecast.core.evaluation.backtest import BacktestResult

NAME = "combination"
FAMILY = "combination"
WEIGHTINGS = ("equal", "skill")
MEMBER_FAMILIES = ("network", "statistical")


@dataclass(frozen=True)
class Combination:
    """Which models are combined, with what weights (summing to 1), and why."""

    members: tuple[str, ...]
    weights: tuple[float, ...]
    metric: str

    def describe(self) -> str:
        parts = ", ".join(f"{m} {w:.2f}" for m, w in zip(self.members, self.weights, strict=True))
        return f"{len(self.members)} models, weighted by {self.metric}: {parts}"

    def mix(self, forecasts: Mapping[str, np.ndarray]) -> np.ndarray:
        """The weighted mean of the members' forecasts (any common shape)."""
        stacked = np.stack([np.asarray(forecasts[m], dtype="float64") for m in self.members])
        weights = np.asarray(self.weights).reshape((-1,) + (1,) * (stacked.ndim - 1))
        return (stacked * weights).sum(axis=0)


def choose_members(
    board: pd.DataFrame,
    *,
    top: int | None = None,
    metric: str = "mase",
    weighting: str = "skill",
    exclude: Sequence[str] = (),
    families: Sequence[str] = MEMBER_FAMILIES,
) -> Combination | None:
    """The models of a leaderboard to combine: every one of `families` (those in `exclude`
    left out) with a finite `metric`, or the best `top` of them; weights equal or proportional
    to 1 / metric ("skill"). None when fewer than two qualify (nothing to combine)."""
    if weighting not in WEIGHTINGS:
        raise ConfigError(
            f"combination weights must be one of {', '.join(WEIGHTINGS)}, got {weighting!r}"
        )
    eligible = board[board["family"].isin(families)]
    scores = eligible[metric].drop(index=[m for m in exclude if m in eligible.index])
    scores = scores[np.isfinite(scores.to_numpy(dtype="float64")) & (scores > 0)]
    best = scores.sort_values(kind="stable")
    if top is not None:
        best = best.head(top)
    if len(best) < 2:
        return None
    raw = np.ones(len(best)) if weighting == "equal" else 1.0 / best.to_numpy(dtype="float64")
    weights = raw / raw.sum()
    return Combination(tuple(str(m) for m in best.index), tuple(float(w) for w in weights), metric)


def combine_backtests(
    results: Mapping[str, BacktestResult], combination: Combination
) -> BacktestResult:
    """The combination's backtest: its members' forecasts mixed on their common origins."""
    missing = [m for m in combination.members if m not in results]
    if missing:
        raise DataError(f"the combination's member(s) {', '.join(missing)} have no backtest")
    members = [results[m] for m in combination.members]
    first = members[0]
    for other in members[1:]:
        if not np.array_equal(other.origins, first.origins):
            raise DataError(
                f"{other.name} and {first.name} were backtested on different origins; a "
                "combination needs the same folds"
            )
    return replace(
        first,
        name=NAME,
        family=FAMILY,
        forecasts=combination.mix({m: results[m].forecasts for m in combination.members}),
        fit_seconds=np.sum([r.fit_seconds for r in members], axis=0),
        predict_seconds=np.sum([r.predict_seconds for r in members], axis=0),
        bands=None,
    )
