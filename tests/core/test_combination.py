"""Forecast combination: members by the selection backtest, weights, the combined backtest; and
the champion rule with a combination on the board."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from candlecast.core.errors import ConfigError, DataError
from candlecast.core.evaluation.backtest import BacktestResult
from candlecast.core.evaluation.champion import ChampionRule, choose_champion
from candlecast.core.evaluation.combination import (
    Combination,
    choose_members,
    combine_backtests,
)
from candlecast.core.evaluation.folds import FoldSpec
from candlecast.core.evaluation.leaderboard import leaderboard


def _result(name: str, family: str, forecasts: np.ndarray, actuals: np.ndarray) -> BacktestResult:
    n, horizon = forecasts.shape
    return BacktestResult(
        name=name,
        family=family,
        horizon=horizon,
        spec=FoldSpec(folds=1, step=1, horizon=horizon, min_train=1, origins_per_fold=n),
        folds=(),
        origins=np.arange(100, 100 + n),
        origin_times=pd.date_range("2024-01-01", periods=n, freq="h", tz="UTC"),
        origin_values=np.zeros(n),
        fold_of=np.zeros(n, dtype=int),
        forecasts=forecasts,
        actuals=actuals,
        mask=np.ones((n, horizon), dtype=bool),
        fit_seconds=np.array([1.0]),
        predict_seconds=np.array([0.1]),
    )


def _board(scores: dict[str, tuple[str, float]]) -> pd.DataFrame:
    return pd.DataFrame(
        {"family": [f for f, _ in scores.values()], "mase": [s for _, s in scores.values()]},
        index=pd.Index(list(scores), name="model"),
    )


def test_two_unbiased_candidates_with_independent_errors_combine_into_a_better_one():
    rng = np.random.default_rng(0)
    n, horizon = 400, 6
    truth = rng.normal(size=(n, horizon)).cumsum(axis=1)
    results = {
        "a": _result("a", "network", truth + rng.normal(0, 1.0, (n, horizon)), truth),
        "b": _result("b", "network", truth + rng.normal(0, 1.0, (n, horizon)), truth),
        "naive": _result("naive", "baseline", truth + rng.normal(0, 3.0, (n, horizon)), truth),
    }
    board = leaderboard(results, scale=1.0, levels=())
    combination = choose_members(board, weighting="equal")
    assert combination is not None and set(combination.members) == {"a", "b"}  # naive stays out
    assert combination.weights == pytest.approx((0.5, 0.5))
    combined = combine_backtests(results, combination)
    assert (combined.name, combined.family) == ("combination", "combination")
    np.testing.assert_allclose(
        combined.forecasts, (results["a"].forecasts + results["b"].forecasts) / 2
    )
    both = leaderboard({**results, "combination": combined}, scale=1.0, levels=())
    # independent errors of equal size: the mean's error is about 1/sqrt(2) of each
    assert both.at["combination", "mae"] < 0.8 * min(both.at["a", "mae"], both.at["b", "mae"])
    assert combined.fit_seconds.sum() == pytest.approx(2.0)
    choice = choose_champion(both, ChampionRule(tolerance=0.01))
    assert choice.model == "combination"
    assert "beats naive" in choice.reason


def test_members_are_the_networks_and_statistical_models_weighted_by_skill():
    board = _board(
        {
            "naive": ("baseline", 1.0),
            "garch": ("baseline", 1.0),
            "gru": ("network", 0.7),
            "lstm": ("network", 0.8),
            "gru@global": ("network", 0.6),
            "theta": ("statistical", 0.9),
        }
    )
    every = choose_members(board, exclude=("gru@global",))
    assert every.members == ("gru", "lstm", "theta")  # best first; baselines never
    inverse = np.array([1 / 0.7, 1 / 0.8, 1 / 0.9])
    assert every.weights == pytest.approx(tuple(inverse / inverse.sum()))
    top = choose_members(board, top=2)
    assert top.members == ("gru@global", "gru")
    assert top.weights[0] / top.weights[1] == pytest.approx(0.7 / 0.6)
    assert top.describe() == "2 models, weighted by mase: gru@global 0.54, gru 0.46"
    assert choose_members(board.loc[["naive", "gru"]]) is None  # one member: nothing to mix
    with pytest.raises(ConfigError, match="equal, skill"):
        choose_members(board, weighting="median")


def test_a_combination_must_earn_its_place_like_a_network():
    board = _board(
        {"naive": ("baseline", 1.0), "combination": ("combination", 0.995), "gru": ("network", 1.2)}
    )
    choice = choose_champion(board, ChampionRule(tolerance=0.01))
    assert choice.model == "naive"
    assert choice.reason.startswith("no network or combination beat naive by more than 1%")
    # a network a little better than the combination: a lead that small is the luck of a fit
    board = _board(
        {
            "naive": ("baseline", 1.0),
            "combination": ("combination", 0.80),
            "gru": ("network", 0.795),
        }
    )
    choice = choose_champion(board, ChampionRule(tolerance=0.01))
    assert choice.model == "combination"
    assert "gru (0.80) is within 1% of it" in choice.reason
    # ...unless it beats the combination by more than the tolerance
    board.loc["gru", "mase"] = 0.70
    choice = choose_champion(board, ChampionRule(tolerance=0.01))
    assert choice.model == "gru" and "it beats combination (0.80) by more than 1%" in choice.reason


def test_a_combination_needs_its_members_on_the_same_origins():
    rng = np.random.default_rng(1)
    a = _result("a", "network", rng.normal(size=(10, 2)), rng.normal(size=(10, 2)))
    b = _result("b", "network", rng.normal(size=(12, 2)), rng.normal(size=(12, 2)))
    with pytest.raises(DataError, match="different origins"):
        combine_backtests({"a": a, "b": b}, Combination(("a", "b"), (0.5, 0.5), "mase"))
    with pytest.raises(DataError, match="member\\(s\\) c have no backtest"):
        combine_backtests({"a": a}, Combination(("a", "c"), (0.5, 0.5), "mase"))
    combined = Combination(("a", "b"), (0.25, 0.75), "mase").mix({"a": 4.0, "b": 8.0})
    assert combined == pytest.approx(7.0)
