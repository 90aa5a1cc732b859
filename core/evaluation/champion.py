"""The rule that picks the forecast to publish from a leaderboard (`leaderboard.py`).

The rule: the best model by a metric (MASE by default) is published, with two guards.
  - Ties: models within a relative `tolerance` of the best count as tied, and the simplest family
    among them wins (baseline < statistical < network < combination) when `prefer_simpler` is
    set.
  - Learned models must earn it: a network, or a combination, is published only if it beats the
    best baseline or statistical model by more than the tolerance. Otherwise that model is
    published and the reason says so, naming the best learned model and its score.
  - Among the learned models that earned it, the combination wins its ties: a single network
    is published over it only when it beats it by more than the tolerance.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from candlecast.core.errors import ConfigError, DataError

FAMILY_RANK: dict[str, int] = {"baseline": 0, "statistical": 1, "network": 2, "combination": 3}
LEARNED = ("network", "combination")
"""Families that must earn their place: published only when they beat every simpler model."""
METRICS: tuple[str, ...] = ("mase", "mae", "mae_rel", "rmse", "smape")  # lower is better
LABELS: dict[str, str] = {
    "mase": "MASE",
    "mae": "MAE",
    "mae_rel": "MAE/naive",
    "rmse": "RMSE",
    "smape": "sMAPE",
}


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


def _learned_winner(
    beating: pd.DataFrame, rule: ChampionRule, score: dict[str, float], d: int
) -> tuple[str, str]:
    """Among the learned models that beat every simpler one: a combination wins its ties
    with the networks it averages (a single network's lead of less than the tolerance is
    mostly the luck of its fit); a network is published only if it beats it by more."""
    best = str(beating[rule.metric].idxmin())
    combined = [str(m) for m in beating.index[beating["family"] == "combination"]]
    if not combined:
        return best, ""
    combination = combined[0]
    if best == combination or score[best] * (1 + rule.tolerance) >= score[combination]:
        tie = (
            ""
            if best == combination
            else (
                f"; {best} ({score[best]:.{d}f}) is within {rule.tolerance:.0%} of it, and a "
                "single fit's lead that small is mostly luck"
            )
        )
        return combination, tie
    return best, f"; it beats {combination} ({score[combination]:.{d}f}) by more than " + (
        f"{rule.tolerance:.0%}"
    )


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
    networks = scored[scored["family"].isin(LEARNED)]
    others = scored[~scored["family"].isin(LEARNED)]
    by_more = f" by more than {rule.tolerance:.0%}" if rule.tolerance else ""

    def choice(name: str, reason: str) -> Choice:
        return Choice(name, str(scored.at[name, "family"]), rule.metric, score[name], reason)

    kind = "network or combination" if (networks["family"] == "combination").any() else "network"
    if others.empty:
        name = _pick(networks, rule)
        return choice(
            name, f"{name} ({label} {score[name]:.2f}) is the best {kind}; no baseline was scored"
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
    beating = networks[networks[rule.metric] * (1 + rule.tolerance) < score[best_other]]
    if not beating.empty:
        winner, tie = _learned_winner(beating, rule, score, d)
        return choice(
            winner,
            f"{winner} ({label} {score[winner]:.{d}f}) beats {best_other} "
            f"({label} {score[best_other]:.{d}f}){by_more}{tie}",
        )
    reason = (
        f"no {kind} beat {best_other}{by_more} (best {kind} {best_net} {label} "
        f"{score[best_net]:.{d}f} vs {best_other} {score[best_other]:.{d}f}): "
        f"publishing {published}"
    )
    return choice(published, reason + (simpler if published != best_other else ""))
