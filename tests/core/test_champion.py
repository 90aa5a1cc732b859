"""The leaderboard and the champion rule: baselines guard the published forecast."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import pytest

from candlecast.core.errors import ConfigError, DataError
from candlecast.core.evaluation.backtest import backtest, backtest_many
from candlecast.core.evaluation.baselines import (
    DriftForecaster,
    NaiveForecaster,
    SeasonalNaiveForecaster,
)
from candlecast.core.evaluation.champion import ChampionRule, choose_champion
from candlecast.core.evaluation.folds import FoldSpec
from candlecast.core.evaluation.intervals import apply, calibrate, sequential_bands
from candlecast.core.evaluation.leaderboard import leaderboard
from candlecast.core.evaluation.metrics import mae, naive_scale
from tests.fixtures.series import make_candles


class DailyProfileNetwork:
    """A stand-in network with skill on a daily cycle: level from the last day + hour profile.

    Fit learns the mean of each hour of the day (relative to the overall mean) on the training
    part; a forecast is the mean deseasonalised value of the last 24 candles plus the profile of
    the forecast hour. On a noisy daily cycle this beats naive and seasonal naive.
    """

    family = "network"

    def __init__(self, horizon: int, name: str = "profile_net") -> None:
        self.horizon = horizon
        self.name = name

    def fit(self, frame: pd.DataFrame, y: pd.Series) -> None:
        hours = frame.index.hour
        self.profile = (y.groupby(hours).mean() - y.mean()).reindex(range(24)).to_numpy()

    def predict_at(self, frame: pd.DataFrame, y: pd.Series, origins: Sequence[int]) -> np.ndarray:
        values = y.to_numpy()
        hours = np.asarray(frame.index.hour)
        at = np.asarray(origins)
        window = at[:, None] - np.arange(24)[None, :]  # [origins, 24] the last day
        level = (values[window] - self.profile[hours[window]]).mean(axis=1)
        ahead = (hours[at][:, None] + np.arange(1, self.horizon + 1)[None, :]) % 24
        return level[:, None] + self.profile[ahead]  # [origins, horizon]


class MovingAverageNetwork(NaiveForecaster):
    """A stand-in network with no skill on a random walk: the mean of the last 12 values."""

    family = "network"

    def predict_at(self, frame: pd.DataFrame, y: pd.Series, origins: Sequence[int]) -> np.ndarray:
        values = y.to_numpy()
        at = np.asarray(origins)
        window = at[:, None] - np.arange(12)[None, :]
        return np.repeat(values[window].mean(axis=1)[:, None], self.horizon, axis=1)


SPEC = FoldSpec(folds=40, step=24, horizon=24, min_train=240)


def _board(frame: pd.DataFrame, y: pd.Series, networks: dict) -> pd.DataFrame:
    factories = {
        "naive": lambda: NaiveForecaster(24),
        "seasonal_naive": lambda: SeasonalNaiveForecaster(24, 24),
        "drift": lambda: DriftForecaster(24),
        **networks,
    }
    results = backtest_many(factories, frame, y, SPEC)
    train_end = results["naive"].folds[0].train_end
    scale = naive_scale(y.to_numpy()[:train_end])
    return leaderboard(results, scale, interval_mode="relative")


def test_on_a_random_walk_a_baseline_is_published() -> None:
    frame = make_candles(1500, random_walk=True, seed=7)
    board = _board(frame, frame["close"], {"ma_net": lambda: MovingAverageNetwork(24)})
    choice = choose_champion(board)

    assert choice.family == "baseline"
    assert choice.model in ("naive", "drift")
    net, base = board.at["ma_net", "mase"], board.at[choice.model, "mase"]
    assert net > base
    assert choice.reason.startswith(f"no network beat {choice.model} (best network ma_net MASE")
    assert choice.reason.endswith(f"publishing {choice.model}")


def test_on_a_strong_daily_cycle_a_network_with_skill_is_published() -> None:
    frame = make_candles(1500, seed=8, daily_amplitude=0.03, noise=0.004)
    board = _board(frame, frame["close"], {"profile_net": lambda: DailyProfileNetwork(24)})
    choice = choose_champion(board)

    assert choice.model == "profile_net" and choice.family == "network"
    assert board.at["profile_net", "mase"] < 0.8 * board.at["seasonal_naive", "mase"]
    assert board.at["profile_net", "mae_rel"] < 0.5  # far better than naive
    assert choice.reason.startswith("profile_net (MASE ")
    assert " beats seasonal_naive (MASE " in choice.reason
    assert choice.score == pytest.approx(board.at["profile_net", "mase"])


def test_leaderboard_numbers() -> None:
    frame = make_candles(1500, seed=9)
    y = frame["close"]
    results = backtest_many(
        {"naive": lambda: NaiveForecaster(24), "drift": lambda: DriftForecaster(24)},
        frame,
        y,
        SPEC,
    )
    board = leaderboard(results, scale=0.5)

    naive = results["naive"]
    expected_mae = mae(naive.forecasts, naive.actuals, naive.mask).overall
    assert board.at["naive", "mae"] == pytest.approx(expected_mae)
    assert board.at["naive", "mase"] == pytest.approx(expected_mae / 0.5)
    assert board.at["naive", "mae_rel"] == pytest.approx(1.0)
    assert board.at["drift", "mae_rel"] == pytest.approx(board.at["drift", "mae"] / expected_mae)
    assert board.at["naive", "directional_accuracy"] == 0.0  # naive never calls a direction
    assert board.at["naive", "n"] == 40 * 24
    assert list(board.index) == list(board.sort_values("mase").index)
    for column in ("coverage_80", "width_80", "winkler_80", "coverage_95", "winkler_95"):
        assert column in board.columns
    # sequential intervals (each origin calibrated on the complete ones before it): of 40
    # origins a day apart, the last 31 get 80% bands (9 earlier ones needed), only the last one
    # a 95% band (39 needed)
    lower, upper = sequential_bands(naive, (0.8, 0.95), "absolute")[0.8]
    banded = np.isfinite(lower).all(axis=1)
    assert banded.sum() == 31 and not banded[:9].any()
    inside = (naive.actuals >= lower) & (naive.actuals <= upper)
    assert board.at["naive", "coverage_80"] == pytest.approx(inside[banded].mean())
    assert board.at["naive", "winkler_80"] > board.at["naive", "width_80"]
    assert np.isfinite(board.at["naive", "coverage_95"])


def test_leaderboard_measures_given_bands_and_scores_them() -> None:
    frame = make_candles(1500, seed=10)
    y = frame["close"]
    spec = FoldSpec(folds=20, step=24, horizon=24, min_train=100)
    early = backtest(lambda: NaiveForecaster(24), frame.iloc[:700], y.iloc[:700], spec)
    later = backtest_many({"naive": lambda: NaiveForecaster(24)}, frame, y, spec)
    assert later["naive"].origins[0] > 700  # measured on data the calibration never saw
    calibration = calibrate(early, levels=(0.8,))
    bands = {"naive": apply(calibration, later["naive"].forecasts)}
    board = leaderboard(later, scale=1.0, levels=(0.8,), bands=bands)

    lower, upper = bands["naive"][0.8]
    actual = later["naive"].actuals
    inside = ((actual >= lower) & (actual <= upper)).mean()
    assert board.at["naive", "coverage_80"] == pytest.approx(inside)
    miss = np.maximum(lower - actual, 0) + np.maximum(actual - upper, 0)
    assert board.at["naive", "winkler_80"] == pytest.approx((upper - lower + 10 * miss).mean())
    assert "coverage_95" not in board.columns


def test_leaderboard_refuses_results_from_different_folds() -> None:
    frame = make_candles(1500, seed=9)
    y = frame["close"]
    a = backtest(lambda: NaiveForecaster(24), frame, y, SPEC)
    b = backtest(lambda: NaiveForecaster(24), frame, y, FoldSpec(folds=10, step=24, horizon=24))
    with pytest.raises(DataError, match="not backtested on the same folds"):
        leaderboard({"a": a, "b": b}, scale=1.0)


def _hand_board(rows: dict[str, tuple[str, float]]) -> pd.DataFrame:
    return pd.DataFrame(
        {"family": [f for f, _ in rows.values()], "mase": [m for _, m in rows.values()]},
        index=pd.Index(list(rows), name="model"),
    )


def test_reason_when_a_network_wins() -> None:
    board = _hand_board(
        {
            "naive": ("baseline", 1.0),
            "seasonal_naive": ("baseline", 0.97),
            "lstm": ("network", 0.91),
            "gru": ("network", 0.95),
        }
    )
    choice = choose_champion(board)
    assert (choice.model, choice.family, choice.metric) == ("lstm", "network", "mase")
    assert choice.reason == "lstm (MASE 0.91) beats seasonal_naive (MASE 0.97)"


def test_reason_when_no_network_beats_the_best_baseline() -> None:
    board = _hand_board({"naive": ("baseline", 1.0), "gru": ("network", 1.04)})
    choice = choose_champion(board)
    assert choice.model == "naive"
    assert choice.reason == (
        "no network beat naive (best network gru MASE 1.04 vs naive 1.00): publishing naive"
    )


def test_a_network_that_only_equals_the_baseline_is_not_published() -> None:
    board = _hand_board({"naive": ("baseline", 1.0), "gru": ("network", 1.0)})
    assert choose_champion(board).model == "naive"


def test_tie_tolerance_keeps_the_simpler_model() -> None:
    board = _hand_board(
        {
            "naive": ("baseline", 1.000),
            "ets": ("statistical", 0.995),
            "lstm": ("network", 0.992),
        }
    )
    assert choose_champion(board).model == "lstm"  # strict rule: the best score wins

    rule = ChampionRule(tolerance=0.01)
    choice = choose_champion(board, rule)
    assert choice.model == "naive"
    assert choice.reason == (
        "no network beat ets by more than 1% (best network lstm MASE 0.992 vs ets 0.995): "
        "publishing naive (MASE 1.000, within 1% of ets 0.995, and simpler)"
    )
    loose = ChampionRule(tolerance=0.01, prefer_simpler=False)
    assert choose_champion(board, loose).model == "ets"


def test_simplest_first_orders_baselines_on_a_tie() -> None:
    board = _hand_board({"drift": ("baseline", 0.995), "naive": ("baseline", 1.0)})
    assert choose_champion(board).model == "drift"
    choice = choose_champion(board, ChampionRule(tolerance=0.01))
    assert choice.model == "naive"
    assert choice.reason.endswith("; no network was scored")


def test_other_metrics_and_missing_scores() -> None:
    board = _hand_board({"naive": ("baseline", np.nan), "ets": ("statistical", 0.9)})
    board["smape"] = [2.0, 3.0]
    assert choose_champion(board).model == "ets"  # NaN scores are not candidates
    assert choose_champion(board, ChampionRule(metric="smape")).model == "naive"
    only_networks = _hand_board({"gru": ("network", 1.2), "lstm": ("network", 1.1)})
    assert choose_champion(only_networks).model == "lstm"


def test_bad_rules_and_boards_are_refused() -> None:
    with pytest.raises(ConfigError, match=r"champion metric must be one of .* got 'r2'"):
        ChampionRule(metric="r2")
    with pytest.raises(ConfigError, match="tie tolerance must be a relative number"):
        ChampionRule(tolerance=1.5)
    with pytest.raises(DataError, match="no model has a finite mase"):
        choose_champion(_hand_board({"naive": ("baseline", np.nan)}))
    with pytest.raises(DataError, match="lacks column"):
        choose_champion(pd.DataFrame({"mase": [1.0]}, index=["naive"]))
