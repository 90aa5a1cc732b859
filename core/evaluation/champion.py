"""The leaderboard of a backtest, and the rule that picks the forecast to publish.

The rule: the best model by a metric (MASE by default) is published, with two guards.
  - Ties: models within a relative `tolerance` of the best count as tied, and the simplest family
    among them wins (baseline < statistical < network) when `prefer_simpler` is set.
  - Networks must earn it: a network is published only if it beats the best non-network model
    (baselines and statistical models) by more than the tolerance. Otherwise that model is
    published and the reason says so, naming the best network and its score.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from candlecast.core.errors import ConfigError, DataError
from candlecast.core.evaluation.backtest import BacktestResult
from candlecast.core.evaluation.intervals import (
    DEFAULT_LEVELS,
    Bands,
    IntervalCalibration,
    apply,
    cross_conformal_bands,
    min_residuals,
)
from candlecast.core.evaluation.metrics import (
    coverage,
    directional_accuracy,
    mae,
    mase,
    mean_width,
    rmse,
    smape,
)

FAMILY_RANK: dict[str, int] = {"baseline": 0, "statistical": 1, "network": 2}
METRICS: tuple[str, ...] = ("mase", "mae", "mae_rel", "rmse", "smape")  # lower is better
LABELS: dict[str, str] = {
    "mase": "MASE",
    "mae": "MAE",
    "mae_rel": "MAE/naive",
    "rmse": "RMSE",
    "smape": "sMAPE",
}


def _level_tag(level: float) -> str:
    """Column suffix of a level: 0.8 -> "80", 0.975 -> "97.5"."""
    return f"{level * 100:g}"


def _same_folds(results: Mapping[str, BacktestResult]) -> None:
    first_name, first = next(iter(results.items()))
    for name, result in results.items():
        if not np.array_equal(result.origins, first.origins) or result.horizon != first.horizon:
            raise DataError(
                f"{name} and {first_name} were not backtested on the same folds (origins or "
                f"horizon differ); run them through one backtest_many call"
            )


def _bands_for(
    result: BacktestResult,
    levels: tuple[float, ...],
    calibration: IntervalCalibration | None,
    interval_mode: str,
) -> Bands | None:
    if calibration is not None:
        bands = apply(calibration, result.forecasts)
        missing = [level for level in levels if level not in bands]
        if missing:
            raise ConfigError(
                f"the calibration of {result.name} has levels "
                f"{', '.join(f'{x:g}' for x in calibration.levels)}; the leaderboard asks for "
                f"{', '.join(f'{x:g}' for x in missing)} too"
            )
        return bands
    smallest = int(result.mask.sum(axis=0).min()) if result.mask.size else 0
    if smallest - 1 < max(min_residuals(level) for level in levels):
        return None
    return cross_conformal_bands(result, levels, interval_mode)


def leaderboard(
    results: Mapping[str, BacktestResult],
    scale: float,
    *,
    levels: Sequence[float] = DEFAULT_LEVELS,
    calibrations: Mapping[str, IntervalCalibration] | None = None,
    given_bands: Mapping[str, Bands] | None = None,
    interval_mode: str = "absolute",
    reference: str = "naive",
) -> pd.DataFrame:
    """One row per model, best MASE first.

    Columns: family, mae, mae_rel (MAE / the `reference` model's MAE; NaN without it), rmse,
    smape (%), mase (MAE / `scale`, the training part's mean absolute one-step naive error),
    directional_accuracy (0..1), coverage_80 / width_80 / coverage_95 / width_95 (one pair per
    level), fit_seconds, predict_seconds, n (counted cells).

    Interval columns: a model with bands in `given_bands` (forecast-shaped, per level, e.g. from
    `rolling_bands`) is measured with them; else a model with a calibration in `calibrations`
    (fitted on other data, such as a validation backtest) is measured with it; any other model
    gets leave-one-origin-out
    conformal intervals (`cross_conformal_bands`) in `interval_mode`, or NaN when it has too few
    origins for them.
    """
    if not results:
        raise DataError("leaderboard needs at least one backtest result, got none")
    _same_folds(results)
    checked = tuple(sorted(float(level) for level in levels))
    rows = []
    for name, result in results.items():
        f, a, m = result.forecasts, result.actuals, result.mask
        row: dict[str, object] = {
            "model": name,
            "family": result.family,
            "mae": mae(f, a, m).overall,
            "mae_rel": np.nan,
            "rmse": rmse(f, a, m).overall,
            "smape": smape(f, a, m).overall,
            "mase": mase(f, a, scale, m).overall,
            "directional_accuracy": directional_accuracy(f, a, result.origin_values, m).overall,
        }
        calibration = (calibrations or {}).get(name)
        model_bands = (given_bands or {}).get(name)
        if model_bands is None and checked:
            model_bands = _bands_for(result, checked, calibration, interval_mode)
        for level in checked:
            tag = _level_tag(level)
            if model_bands is None:
                row[f"coverage_{tag}"] = row[f"width_{tag}"] = np.nan
            else:
                lower, upper = model_bands[level]
                row[f"coverage_{tag}"] = coverage(lower, upper, a, m).overall
                row[f"width_{tag}"] = mean_width(lower, upper, m).overall
        row["fit_seconds"] = float(result.fit_seconds.sum())
        row["predict_seconds"] = float(result.predict_seconds.sum())
        row["n"] = int(m.sum())
        rows.append(row)
    board = pd.DataFrame(rows).set_index("model")
    if reference in board.index and board.at[reference, "mae"] > 0:
        board["mae_rel"] = board["mae"] / board.at[reference, "mae"]
    return board.sort_values(["mase", "mae"], kind="stable")


@dataclass(frozen=True)
class ChampionRule:
    """How the champion is chosen.

    metric          the leaderboard column to minimise (mase, mae, mae_rel, rmse, smape)
    tolerance       relative tie band: scores within `best * (1 + tolerance)` tie
    prefer_simpler  on a tie, publish the simplest model: family first (baseline < statistical
                    < network), then the order of `simplest_first` (model names, simplest
                    first, ranked before unnamed models of their family), then the score
    """

    metric: str = "mase"
    tolerance: float = 0.0
    prefer_simpler: bool = True
    simplest_first: tuple[str, ...] = ("naive", "seasonal_naive", "drift")

    def __post_init__(self) -> None:
        if self.metric not in METRICS:
            raise ConfigError(
                f"champion metric must be one of {', '.join(METRICS)}, got {self.metric!r}"
            )
        if not (isinstance(self.tolerance, int | float) and 0.0 <= self.tolerance < 1.0):
            raise ConfigError(
                f"tie tolerance must be a relative number in [0, 1) such as 0.01 (1%), "
                f"got {self.tolerance!r}"
            )
        if isinstance(self.simplest_first, str) or not all(
            isinstance(name, str) for name in self.simplest_first
        ):
            raise ConfigError(
                f"simplest_first must be a sequence of model names, got {self.simplest_first!r}"
            )


@dataclass(frozen=True)
class Choice:
    """The published model and why."""

    model: str
    family: str
    metric: str
    score: float
    reason: str

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def _decimals(values: Sequence[float]) -> int:
    """2 decimals, or as many more (up to 4) as it takes to tell the values apart."""
    for decimals in (2, 3):
        if len({f"{v:.{decimals}f}" for v in values}) == len(set(values)):
            return decimals
    return 4


def _pick(board: pd.DataFrame, rule: ChampionRule) -> str:
    """The rule's choice within `board`: the best score, ties to the simplest model."""
    best = float(board[rule.metric].min())
    tied = board[board[rule.metric] <= best * (1 + rule.tolerance)]
    named = {name: i for i, name in enumerate(rule.simplest_first)}
    ranked = tied.assign(
        _rank=tied["family"].map(FAMILY_RANK).fillna(len(FAMILY_RANK)),
        _named=[named.get(str(name), len(named)) for name in tied.index],
        _score=tied[rule.metric],
        _name=tied.index,
    )
    keys = ["_rank", "_named", "_score", "_name"]
    if not rule.prefer_simpler:  # ties only where scores are equal, then the simpler
        ranked = ranked[ranked["_score"] == best]
    return str(ranked.sort_values(keys).index[0])


def choose_champion(board: pd.DataFrame, rule: ChampionRule | None = None) -> Choice:
    """Pick the model to publish from a `leaderboard` (see the module docstring for the rule)."""
    rule = rule or ChampionRule()
    missing = {rule.metric, "family"} - set(board.columns)
    if missing:
        raise DataError(f"the leaderboard lacks column(s) {', '.join(sorted(missing))}")
    scored = board[np.isfinite(board[rule.metric].to_numpy(dtype="float64"))]
    if scored.empty:
        raise DataError(f"no model has a finite {rule.metric} on the backtest; nothing to publish")
    score = {str(name): float(value) for name, value in scored[rule.metric].items()}
    label = LABELS[rule.metric]
    networks = scored[scored["family"] == "network"]
    others = scored[scored["family"] != "network"]
    by_more = f" by more than {rule.tolerance:.0%}" if rule.tolerance else ""

    def choice(name: str, reason: str) -> Choice:
        return Choice(name, str(scored.at[name, "family"]), rule.metric, score[name], reason)

    if others.empty:
        name = _pick(networks, rule)
        return choice(
            name, f"{name} ({label} {score[name]:.2f}) is the best network; no baseline was scored"
        )
    best_other = str(others[rule.metric].idxmin())
    published = _pick(others, rule)
    best_net = str(networks[rule.metric].idxmin()) if not networks.empty else None
    involved = [score[n] for n in (best_other, published, best_net) if n is not None]
    d = _decimals(involved)
    simpler = (
        f" ({label} {score[published]:.{d}f}, within {rule.tolerance:.0%} of {best_other} "
        f"{score[best_other]:.{d}f}, and simpler)"
    )
    if best_net is None:
        if published == best_other:
            reason = (
                f"{published} has the best {label} ({score[published]:.{d}f}) of "
                f"{len(others)} model(s)"
            )
        else:
            reason = f"publishing {published}{simpler}"
        return choice(published, f"{reason}; no network was scored")
    if score[best_net] * (1 + rule.tolerance) < score[best_other]:
        return choice(
            best_net,
            f"{best_net} ({label} {score[best_net]:.{d}f}) beats {best_other} "
            f"({label} {score[best_other]:.{d}f}){by_more}",
        )
    reason = (
        f"no network beat {best_other}{by_more} (best network {best_net} {label} "
        f"{score[best_net]:.{d}f} vs {best_other} {score[best_other]:.{d}f}): "
        f"publishing {published}"
    )
    return choice(published, reason + (simpler if published != best_other else ""))
