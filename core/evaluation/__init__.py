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
from candlecast.core.evaluation.champion import (
    ChampionRule,
    Choice,
    choose_champion,
    leaderboard,
)
from candlecast.core.evaluation.folds import Fold, FoldSpec, walk_forward
from candlecast.core.evaluation.intervals import (
    DEFAULT_LEVELS,
    IntervalCalibration,
    apply,
    calibrate,
    calibrate_scores,
    cross_conformal_bands,
    min_residuals,
    nonconformity,
    realised_coverage,
)
from candlecast.core.evaluation.metrics import (
    Score,
    coverage,
    directional_accuracy,
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
    "ChampionRule",
    "Choice",
    "DriftForecaster",
    "ETSForecaster",
    "Fold",
    "FoldSpec",
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
    "cross_conformal_bands",
    "directional_accuracy",
    "leaderboard",
    "mae",
    "mase",
    "mean_width",
    "min_residuals",
    "naive_scale",
    "nonconformity",
    "realised_coverage",
    "rmse",
    "smape",
    "traded_values",
    "walk_forward",
]
