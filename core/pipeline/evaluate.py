"""Stage 4 of a series' run, per target: the candidates (and their combination) on the same
walk-forward folds, the leaderboard, the champion, the intervals and the published forecast
tables.

Networks are fitted once, inside the backtest, on the candles before the first origin; the same
fitted model then forecasts the next `horizon` candles from the newest one, so the published
forecast comes from exactly the model the leaderboard scored. Its intervals are conformal,
calibrated on that model's own out-of-sample residuals, each divided by the volatility known at
its origin (`backtest.intervals = "normalised"`), so the published bands widen in turbulent
hours and narrow in calm ones; a model with bands of its own (GARCH) publishes those. The
leaderboard's interval columns score the bands a scheduled run would have published at each
backtest origin, calibrated only on the origins before it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from candlecast.core.config import Config
from candlecast.core.errors import DataError
from candlecast.core.evaluation.backtest import BacktestResult
from candlecast.core.evaluation.champion import ChampionRule, Choice, choose_champion
from candlecast.core.evaluation.combination import (
    FAMILY,
    NAME,
    Combination,
    choose_members,
    combine_backtests,
)
from candlecast.core.evaluation.forecaster import Bands
from candlecast.core.evaluation.intervals import apply, calibrate, sequential_bands
from candlecast.core.evaluation.leaderboard import leaderboard
from candlecast.core.evaluation.metrics import naive_scale
from candlecast.core.evaluation.volatility import volatility
from candlecast.core.models.features import future_index
from candlecast.core.pipeline.candidates import Candidate, interval_mode
from candlecast.core.pipeline.plan import SeriesPlan
from candlecast.core.pipeline.prepare import PreparedSeries
from candlecast.core.results import ModelOutcome, TargetOutcome


def mase_scale(prepared: PreparedSeries, target: str, results: dict[str, BacktestResult]) -> float:
    """Mean absolute one-step naive error of `target` over the part before the first origin."""
    first = min(int(r.origins[0]) for r in results.values())
    values = prepared.values(target).to_numpy(dtype="float64")[: first + 1]
    traded = ~prepared.frame["synthetic"].to_numpy(dtype=bool)[: first + 1]
    return naive_scale(values, traded)


@dataclass
class Volatility:
    """The volatility at each backtest origin and at the newest candle (normalised bands)."""

    at_origins: np.ndarray  # [n_origins]
    now: float


def volatility_of(
    prepared: PreparedSeries, target: str, plan: SeriesPlan, origins: np.ndarray
) -> Volatility | None:
    """What normalised bands scale by, or None for static bands (`backtest.intervals`, or no
    volatility known at the newest candle yet)."""
    if plan.intervals != "normalised":
        return None
    traded = ~prepared.frame["synthetic"].to_numpy(dtype=bool)
    values = prepared.values(target).to_numpy(dtype="float64")
    scale = volatility(values, interval_mode(target), plan.volatility_halflife, traded)
    if not np.isfinite(scale[-1]):
        return None
    return Volatility(scale[origins], float(scale[-1]))


@dataclass
class Evaluation:
    board: pd.DataFrame
    choice: Choice
    candidates: dict[str, Candidate]  # the given ones, and the combination where there is one
    published: dict[str, Bands]  # per model, its bands at the newest candle: level -> [horizon]
    notes: list[str]
    combination: Combination | None = None


def add_combination(
    candidates: dict[str, Candidate],
    scale: float,
    config: Config,
    exclude: frozenset[str],
    reference: str,
) -> Combination | None:
    """The `combination` candidate (`backtest.combination`), in place."""
    if config.backtest.combination == "off":
        return None
    results = {name: c.result for name, c in candidates.items()}
    point_board = leaderboard(results, scale, levels=(), reference=reference)
    combination = choose_members(
        point_board,
        top=config.backtest.combine_top,
        metric=config.backtest.metric,
        weighting=config.backtest.combination,
        exclude=tuple(exclude),
    )
    if combination is None:
        return None
    forecast = combination.mix({m: candidates[m].forecast for m in combination.members})
    candidates[NAME] = Candidate(NAME, FAMILY, combine_backtests(results, combination), forecast)
    return combination


def evaluate(
    prepared: PreparedSeries,
    target: str,
    candidates: dict[str, Candidate],
    config: Config,
    plan: SeriesPlan,
    exclude: frozenset[str] = frozenset(),
) -> Evaluation:
    """Leaderboard, champion and every model's published bands for one target. Models in
    `exclude` stay on the leaderboard but cannot be champion nor combined (the losing scope of
    a `both` run)."""
    candidates = dict(candidates)
    first = next(iter(candidates))
    reference = "naive" if "naive" in candidates else first
    scale = mase_scale(prepared, target, {n: c.result for n, c in candidates.items()})
    combination = add_combination(candidates, scale, config, exclude, reference)
    mode, levels = interval_mode(target), config.backtest.levels
    vol = volatility_of(prepared, target, plan, candidates[first].result.origins)
    at_origins, now = (vol.at_origins, vol.now) if vol is not None else (None, None)
    bands: dict[str, Bands] = {}
    published: dict[str, Bands] = {}
    uncalibrated: dict[str, list[str]] = {}  # why -> the models it concerns, said once
    for name, candidate in candidates.items():
        result = candidate.result
        if result.bands is not None and candidate.forecast_bands is not None:
            bands[name], published[name] = result.bands, candidate.forecast_bands
            continue
        bands[name] = sequential_bands(result, levels, mode, scale=at_origins)
        try:
            calibration = calibrate(result, levels, mode, scale=at_origins)
        except DataError as exc:
            uncalibrated.setdefault(str(exc), []).append(name)
            continue
        newest = apply(calibration, candidate.forecast[None, :], now)
        published[name] = {level: (low[0], high[0]) for level, (low, high) in newest.items()}
    notes = [f"no intervals for {', '.join(names)}: {why}" for why, names in uncalibrated.items()]
    board = leaderboard(
        {n: c.result for n, c in candidates.items()},
        scale,
        levels=levels,
        bands=bands,
        interval_mode=mode,
        reference=reference,
    )
    rule = ChampionRule(metric=config.backtest.metric, tolerance=config.backtest.tie_tolerance)
    eligible = board.drop(index=[m for m in exclude if m in board.index])
    choice = choose_champion(eligible, rule)
    return Evaluation(board, choice, candidates, published, notes, combination)


def choose_scope(boards: dict[object, pd.DataFrame]) -> tuple[frozenset[str], str]:
    """With `model.scope = "both"`: per leaderboard (a series' target), the best network MASE
    of each scope; the scope with the lower mean over the universe wins. Returns the losing
    scope's model names (to keep off the champion's seat) and a sentence saying why."""
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
    forecast: np.ndarray, origin: pd.Timestamp, timeframe: str, bands: Bands | None
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
    for level, (lower, upper) in sorted((bands or {}).items()):
        pct = round(level * 100)
        table[f"lower_{pct}"] = lower
        table[f"upper_{pct}"] = upper
    return table


def target_outcome(
    prepared: PreparedSeries,
    target: str,
    candidates: dict[str, Candidate],
    networks: dict[str, ModelOutcome],
    config: Config,
    plan: SeriesPlan,
    exclude: frozenset[str] = frozenset(),
) -> TargetOutcome:
    """Everything the run keeps about one target's models: the leaderboard, the champion and
    its reason, every model's forecast with its bands, and the models that failed."""
    evaluation = evaluate(prepared, target, candidates, config, plan, exclude)
    models: dict[str, ModelOutcome] = {}
    for name, candidate in evaluation.candidates.items():
        combined = evaluation.combination if name == NAME else None
        outcome = networks.get(name) or ModelOutcome(
            model=name,
            family=candidate.family,
            trained=combined is None,
            fit_seconds=0.0 if combined else float(candidate.result.fit_seconds.sum()),
            note=f"combines {combined.describe()}" if combined else None,
        )
        outcome.forecast = forecast_table(
            candidate.forecast,
            prepared.origin,
            prepared.key.timeframe,
            evaluation.published.get(name),
        )
        models[name] = outcome
    models |= {name: m for name, m in networks.items() if m.error}
    return TargetOutcome(
        target=target,
        models=models,
        leaderboard=evaluation.board.reset_index(),
        champion=evaluation.choice.model,
        champion_reason=evaluation.choice.reason,
        notes=evaluation.notes,
    )
