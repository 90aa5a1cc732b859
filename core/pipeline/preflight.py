"""What `candlecast run --check` warns about in a configuration that is valid but will not do
all it asks for: interval levels the backtest has too few origins to calibrate."""

from __future__ import annotations

from candlecast.core.config import Config
from candlecast.core.evaluation.intervals import min_residuals
from candlecast.core.pipeline.plan import SeriesPlan


def interval_warnings(config: Config, plan: SeriesPlan) -> list[str]:
    """One sentence per level of `backtest.levels` that the backtest's origins cannot give
    (conformal intervals need `min_residuals(level)` residuals per horizon step; the
    leaderboard's coverage, measured leaving one origin out, one more)."""
    backtest = config.backtest
    origins = plan.folds.n_origins
    layout = (
        f"the backtest has {origins} origins per series (backtest.folds = {backtest.folds} x "
        f"backtest.origins_per_fold = {backtest.origins_per_fold}; fewer count where candles "
        "are gap-filled)"
    )
    fix = "raise backtest.origins_per_fold or backtest.folds until folds x origins_per_fold >="
    warnings = []
    for level in backtest.levels:
        needed = min_residuals(level)
        pct = f"{level:.0%}"
        if origins < needed:
            warnings.append(
                f"{layout}: {pct} intervals need at least {needed}, so no forecast gets a {pct} "
                f"interval; {fix} {needed}, or drop {level:g} from backtest.levels"
            )
        elif origins < needed + 1:
            warnings.append(
                f"{layout}: the leaderboard's {pct} coverage needs at least {needed + 1}, so it "
                f"stays empty; {fix} {needed + 1}"
            )
    return warnings
