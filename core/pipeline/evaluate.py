"""One series' evaluation: candidates on the same walk-forward folds, the leaderboard, the
champion, conformal intervals and the published forecast table.

Networks are fitted once, inside the backtest, on the candles before the first origin; the same
fitted model then forecasts the next `horizon` candles from the newest one, so the published
forecast comes from exactly the model the leaderboard scored, and its intervals are calibrated on
that model's own out-of-sample residuals.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from candlecast.core.config import Config
from candlecast.core.errors import DataError
from candlecast.core.evaluation.backtest import BacktestResult
from candlecast.core.evaluation.champion import ChampionRule, Choice, choose_champion, leaderboard
from candlecast.core.evaluation.intervals import IntervalCalibration, apply, calibrate
from candlecast.core.evaluation.metrics import naive_scale
from candlecast.core.models.features import future_index
from candlecast.core.pipeline.candidates import Candidate
from candlecast.core.pipeline.prepare import PreparedSeries
from candlecast.core.results import ModelOutcome, SeriesOutcome


def interval_mode(config: Config) -> str:
    """Relative (log-ratio) intervals for positive targets, absolute otherwise."""
    return "relative" if config.model.target in ("close", "open", "high", "low") else "absolute"


def mase_scale(prepared: PreparedSeries, results: dict[str, BacktestResult]) -> float:
    """Mean absolute one-step naive error over the part before the first origin."""
    first = min(int(r.origins[0]) for r in results.values())
    values = prepared.y.to_numpy(dtype="float64")[: first + 1]
    traded = ~prepared.frame["synthetic"].to_numpy(dtype=bool)[: first + 1]
    return naive_scale(values, traded)


@dataclass
class Evaluation:
    board: pd.DataFrame
    choice: Choice
    calibrations: dict[str, IntervalCalibration]
    notes: list[str]


def evaluate(
    prepared: PreparedSeries,
    candidates: dict[str, Candidate],
    config: Config,
    exclude: frozenset[str] = frozenset(),
) -> Evaluation:
    """Leaderboard, champion and per-model interval calibration. Models in `exclude` stay on
    the leaderboard but cannot be champion (the losing scope of a `both` run)."""
    results = {name: c.result for name, c in candidates.items()}
    levels = config.backtest.levels
    mode = interval_mode(config)
    calibrations: dict[str, IntervalCalibration] = {}
    uncalibrated: dict[str, list[str]] = {}  # why -> the models it concerns, said once
    for name, result in results.items():
        try:
            calibrations[name] = calibrate(result, levels, mode)
        except DataError as exc:
            uncalibrated.setdefault(str(exc), []).append(name)
    notes = [f"no intervals for {', '.join(names)}: {why}" for why, names in uncalibrated.items()]
    board = leaderboard(
        results,
        mase_scale(prepared, results),
        levels=levels,
        interval_mode=mode,
        reference="naive" if "naive" in results else next(iter(results)),
    )
    rule = ChampionRule(metric=config.backtest.metric, tolerance=config.backtest.tie_tolerance)
    eligible = board.drop(index=[m for m in exclude if m in board.index])
    return Evaluation(board, choose_champion(eligible, rule), calibrations, notes)


def choose_scope(boards: dict[str, pd.DataFrame]) -> tuple[frozenset[str], str]:
    """With `model.scope = "both"`: per series, the best network MASE of each scope; the scope
    with the lower mean over the universe wins. Returns the losing scope's model names (to keep
    off the champion's seat) and a sentence saying why."""
    best: dict[str, list[float]] = {"series": [], "global": []}
    losers: dict[str, set[str]] = {"series": set(), "global": set()}
    for board in boards.values():
        networks = board[board["family"] == "network"]
        for scope in best:
            names = [m for m in networks.index if m.endswith("@global") == (scope == "global")]
            losers[scope].update(names)
            if names:
                best[scope].append(float(networks.loc[names, "mase"].min()))
    if not best["series"] or not best["global"]:
        return frozenset(), "only one scope was backtested"
    means = {scope: float(np.mean(values)) for scope, values in best.items()}
    winner = min(means, key=means.get)
    loser = "global" if winner == "series" else "series"
    reason = (
        f"{winner} models win across the universe (mean best-network MASE "
        f"{means[winner]:.3f} vs {means[loser]:.3f} for {loser} models)"
    )
    return frozenset(losers[loser]), reason


def forecast_table(
    forecast: np.ndarray,
    origin: pd.Timestamp,
    timeframe: str,
    calibration: IntervalCalibration | None,
) -> pd.DataFrame:
    """target_time, step, value, lower_<pct>, upper_<pct> for one model's forecast."""
    horizon = len(forecast)
    table = pd.DataFrame(
        {
            "target_time": future_index(origin, timeframe, horizon),
            "step": np.arange(1, horizon + 1),
            "value": forecast,
        }
    )
    if calibration is not None:
        for level, (lower, upper) in apply(calibration, forecast).items():
            pct = round(level * 100)
            table[f"lower_{pct}"] = lower
            table[f"upper_{pct}"] = upper
    return table


def series_outcome(
    prepared: PreparedSeries,
    candidates: dict[str, Candidate],
    networks: dict[str, ModelOutcome],
    config: Config,
    exclude: frozenset[str] = frozenset(),
) -> SeriesOutcome:
    """Everything the run keeps about one series' models: the leaderboard, the champion and
    its reason, and every model's forecast with its calibrated intervals."""
    evaluation = evaluate(prepared, candidates, config, exclude)
    models: dict[str, ModelOutcome] = {}
    for name, candidate in candidates.items():
        outcome = networks.get(name) or ModelOutcome(
            model=name,
            family=candidate.family,
            trained=True,
            fit_seconds=float(candidate.result.fit_seconds.sum()),
        )
        outcome.forecast = forecast_table(
            candidate.forecast,
            prepared.origin,
            prepared.key.timeframe,
            evaluation.calibrations.get(name),
        )
        models[name] = outcome
    return SeriesOutcome(
        key=prepared.key,
        target=config.model.target,
        origin=prepared.origin,
        candles=prepared.frame,
        quality={"gaps": prepared.gaps.summary(), "interval_notes": evaluation.notes},
        models=models,
        leaderboard=evaluation.board.reset_index(),
        champion=evaluation.choice.model,
        champion_reason=evaluation.choice.reason,
    )
