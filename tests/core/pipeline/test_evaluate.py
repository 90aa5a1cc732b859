"""One target's evaluation: baselines (GARCH's own bands among them), the combination, sequential
interval columns, and the published bands that follow the volatility at the newest candle."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from candlecast.core.config import build_config
from candlecast.core.market.candles import SeriesKey
from candlecast.core.pipeline.candidates import baseline_candidates
from candlecast.core.pipeline.evaluate import evaluate, target_outcome
from candlecast.core.pipeline.plan import SeriesPlan
from candlecast.core.pipeline.prepare import prepare_series
from candlecast.core.results import ModelOutcome
from tests.fixtures.series import make_candles

KEY = SeriesKey("binance", "BTC/USDT", "1h")


def _config(**backtest):
    return build_config(
        {
            "model": {"window": 12, "horizon": 6, "targets": ["close", "volume"]},
            "backtest": {
                "origins_per_fold": 120,
                "step": 2,
                "baselines": ["naive", "seasonal_naive", "drift", "ets", "theta", "garch"],
                **backtest,
            },
        }
    )


def _calm_then_wild(n: int = 1200) -> pd.DataFrame:
    """Candles whose last two days move four times as much as before."""
    frame = make_candles(n, random_walk=True, seed=21)
    log_close = np.log(frame["close"].to_numpy())
    moves = np.diff(log_close, prepend=log_close[0])
    moves[-48:] *= 4
    close = np.exp(log_close[0] + np.cumsum(moves))
    return frame.assign(open=close, close=close, high=close * 1.001, low=close * 0.999)


@pytest.mark.parametrize("target", ["close", "volume"])
def test_each_target_gets_a_board_a_champion_and_bands_on_every_forecast(target):
    config = _config()
    plan = SeriesPlan.from_config(config)
    prepared = prepare_series(make_candles(1200, seed=3), KEY, plan)
    candidates = baseline_candidates(prepared, target, config, plan.folds)
    failed = {"gru": ModelOutcome("gru", "network", error="timed out")}
    outcome = target_outcome(prepared, target, candidates, failed, config, plan)
    assert outcome.target == target and outcome.champion in outcome.models
    board = outcome.leaderboard.set_index("model")
    assert {"naive", "garch", "combination"} <= set(board.index)
    for column in ("coverage_80", "winkler_80", "coverage_95", "winkler_95"):
        assert board[column].notna().all(), column
    combination = outcome.models["combination"]
    assert combination.family == "combination" and combination.note.startswith("combines")
    assert outcome.models["gru"].error == "timed out" and outcome.model_failures == {
        "gru": "timed out"
    }
    for name, model in outcome.models.items():
        if model.error:
            continue
        frame = model.forecast
        assert list(frame["step"]) == list(range(1, 7)), name
        assert (frame["lower_95"] <= frame["lower_80"]).all(), name
        assert (frame["lower_80"] <= frame["upper_80"]).all(), name
        assert (frame["upper_80"] <= frame["upper_95"]).all(), name
    # garch publishes its own bands: naive's point, its width from the GARCH variance
    garch = outcome.models["garch"].forecast
    np.testing.assert_allclose(garch["value"], outcome.models["naive"].forecast["value"])


def test_published_bands_follow_the_volatility_at_the_newest_candle():
    frame = _calm_then_wild()
    widths = {}
    for mode in ("normalised", "static"):
        config = _config(intervals=mode, baselines=["naive"], combination="off")
        plan = SeriesPlan.from_config(config)
        prepared = prepare_series(frame, KEY, plan)
        candidates = baseline_candidates(prepared, "close", config, plan.folds)
        evaluation = evaluate(prepared, "close", candidates, config, plan)
        low, high = evaluation.published["naive"][0.8]
        widths[mode] = float(np.mean(np.log(high / low)))
    # the last two days are four times as turbulent as the backtest's origins: normalised
    # bands widen with them, static bands do not know
    assert widths["normalised"] > 2.0 * widths["static"]


def test_the_losing_scope_is_neither_champion_nor_combined():
    config = _config(combination="equal")
    plan = SeriesPlan.from_config(config)
    prepared = prepare_series(make_candles(1200, seed=4), KEY, plan)
    candidates = baseline_candidates(prepared, "close", config, plan.folds)
    best = evaluate(prepared, "close", candidates, config, plan).board.index[0]
    excluded = frozenset({str(best)} - {"combination"})
    evaluation = evaluate(prepared, "close", candidates, config, plan, exclude=excluded)
    assert evaluation.choice.model not in excluded
    assert evaluation.combination is None or not set(evaluation.combination.members) & excluded
