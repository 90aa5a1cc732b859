"""The leaderboard of a backtest: one row per model, point and interval metrics side by side.

Interval columns measure the bands a scheduled run would have published at each origin
(`sequential_bands`: calibrated only on earlier complete origins), or a model's own bands (a
GARCH baseline's), so they can be wrong, and differ from model to model.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from candlecast.core.errors import DataError
from candlecast.core.evaluation.backtest import BacktestResult
from candlecast.core.evaluation.intervals import DEFAULT_LEVELS, Bands, sequential_bands
from candlecast.core.evaluation.metrics import (
    coverage,
    directional_accuracy,
    interval_score,
    mae,
    mase,
    mean_width,
    rmse,
    smape,
)


def level_tag(level: float) -> str:
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


def _interval_columns(
    result: BacktestResult, bands: Bands | None, levels: tuple[float, ...]
) -> dict[str, float]:
    """coverage_<tag>, width_<tag> and winkler_<tag> per level, over the cells with a band."""
    row: dict[str, float] = {}
    actual, counted = result.actuals, result.mask
    for level in levels:
        tag = level_tag(level)
        if bands is None or level not in bands:
            row[f"coverage_{tag}"] = row[f"width_{tag}"] = row[f"winkler_{tag}"] = np.nan
            continue
        lower, upper = bands[level]
        row[f"coverage_{tag}"] = coverage(lower, upper, actual, counted).overall
        row[f"width_{tag}"] = mean_width(lower, upper, counted).overall
        row[f"winkler_{tag}"] = interval_score(lower, upper, actual, level, counted).overall
    return row


def leaderboard(
    results: Mapping[str, BacktestResult],
    scale: float,
    *,
    levels: Sequence[float] = DEFAULT_LEVELS,
    bands: Mapping[str, Bands] | None = None,
    interval_mode: str = "absolute",
    reference: str = "naive",
) -> pd.DataFrame:
    """One row per model, best MASE first.

    Columns: family, mae, mae_rel (MAE / the `reference` model's MAE; NaN without it), rmse,
    smape (%), mase (MAE / `scale`, the training part's mean absolute one-step naive error),
    directional_accuracy (0..1), coverage_<tag> / width_<tag> / winkler_<tag> per level (tag
    80 for 0.8), fit_seconds, predict_seconds, n (counted cells).

    Interval columns use each model's bands in `bands` (forecast-shaped, per level), else its
    own (`result.bands`, e.g. GARCH's), else static sequential conformal bands in
    `interval_mode`; they are NaN where no origin had enough earlier ones to calibrate on.
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
        model_bands = (bands or {}).get(name) or result.bands
        if model_bands is None and checked:
            model_bands = sequential_bands(result, checked, interval_mode)
        row |= _interval_columns(result, model_bands, checked)
        row["fit_seconds"] = float(result.fit_seconds.sum())
        row["predict_seconds"] = float(result.predict_seconds.sum())
        row["n"] = int(m.sum())
        rows.append(row)
    board = pd.DataFrame(rows).set_index("model")
    if reference in board.index and board.at[reference, "mae"] > 0:
        board["mae_rel"] = board["mae"] / board.at[reference, "mae"]
    return board.sort_values(["mase", "mae"], kind="stable")
