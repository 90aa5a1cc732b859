"""Honest evaluation: walk-forward backtests, metrics, baselines, intervals, the champion rule."""

from candlecast.core.evaluation.backtest import BacktestResult, backtest, backtest_many
from candlecast.core.evaluation.baselines import (
    DriftForecaster,
    ETSForecaster,
    NaiveForecaster,
    SeasonalNaiveForecaster,
    ThetaForecaster,
    traded_values,
)
from candlecast.core.evaluation.champion import ChampionRule, Choice, choose_champion
from candlecast.core.evaluation.folds import Fold, FoldSpec, walk_forward
from candlecast.core.evaluation.garch import GarchForecaster
from candlecast.core.evaluation.intervals import (
    DEFAULT_LEVELS,
    Bands,
    IntervalCalibration,
    apply,
    calibrate,
    calibrate_scores,
    min_residuals,
    nonconformity,
    realised_coverage,
    sequential_bands,
)
from candlecast.core.evaluation.leaderboard import leaderboard
from candlecast.core.evaluation.metrics import (
    Score,
    coverage,
    directional_accuracy,
    interval_score,
    mae,
    mase,
    mean_width,
    naive_scale,
    rmse,
    smape,
)

__all__ = [
    "DEFAULT_LEVELS",
    "BacktestResult",
    "Bands",
    "ChampionRule",
    "Choice",
    "DriftForecaster",
    "ETSForecaster",
    "Fold",
    "FoldSpec",
    "GarchForecaster",
    "IntervalCalibration",
    "NaiveForecaster",
    "Score",
    "SeasonalNaiveForecaster",
    "ThetaForecaster",
    "apply",
    "backtest",
    "backtest_many",
    "calibrate",
    "calibrate_scores",
    "choose_champion",
    "coverage",
    "directional_accuracy",
    "interval_score",
    "leaderboard",
    "mae",
    "mase",
    "mean_width",
    "min_residuals",
    "naive_scale",
    "nonconformity",
    "realised_coverage",
    "rmse",
    "sequential_bands",
    "smape",
    "traded_values",
    "walk_forward",
]
