"""bench/forecast: the forecast-accuracy protocol of ../shared/BENCHMARK.md, for candlecast.

    .venv/bin/python bench/forecast.py [CSV] [--out bench/results/forecast.json]
                                       [--only naive,ets] [--in-process]

CSV defaults to ../shared/data/BTCUSDT_binance-spot_1h.csv (hourly `timestamp,open,high,low,
close,volume[,...]`); when it is absent the benchmark says so and exits without running.

The protocol, all of it in `Protocol` and `evaluate_target` below:
  - the last 365 days (8,760 hourly candles, gaps filled as candlecast fills them: synthetic
    candles, never scored); the first 300 days train, the last 65 days test;
  - origins every 24 candles through the test part, 24 candles forecast from each; every model
    is fitted once, before the first origin, and never refitted;
  - MAE, MAE / naive's MAE, sMAPE, MASE (scale: mean absolute one-step naive error over the
    training part), coverage of 80% and 95% intervals, fit and forecast seconds, peak RSS;
  - intervals and the champion are decided on a *validation* backtest inside the training part
    (the same layout shifted back: fit on the first 235 days, origins through days 236-300),
    never on the test part. The champion rule is candlecast's default (`BacktestConfig`).

Models are a dict of name -> ForecasterFactory (`candidate_factories`); networks plug in through
`network_factories`. Each (target, model) runs in a fresh process, so its peak RSS is its own.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sys
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from multiprocessing import get_context
from pathlib import Path

import numpy as np
import pandas as pd

from candlecast.core.config import BacktestConfig
from candlecast.core.evaluation import (
    BacktestResult,
    Bands,
    ChampionRule,
    DriftForecaster,
    ETSForecaster,
    FoldSpec,
    IntervalCalibration,
    NaiveForecaster,
    SeasonalNaiveForecaster,
    ThetaForecaster,
    backtest,
    calibrate,
    choose_champion,
    leaderboard,
    naive_scale,
    rolling_bands,
)
from candlecast.core.evaluation.forecaster import ForecasterFactory
from candlecast.core.market.gaps import fill_gaps
from candlecast.core.market.timeframes import seasonal_periods

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CSV = ROOT.parent / "shared" / "data" / "BTCUSDT_binance-spot_1h.csv"
DEFAULT_OUT = ROOT / "bench" / "results" / "forecast.json"

# What other libraries scored on BTCUSDT_binance-spot_1h.csv (BENCHMARK.md, measured 2026-11-27):
# MAE / naive's MAE for close and log1p(volume), fit seconds (close, volume).
REFERENCE: list[dict[str, object]] = [
    {"model": "naive", "close": 1.000, "log1p(volume)": 1.000, "fit_s": [0, 0]},
    {"model": "seasonal naive (24)", "close": 1.370, "log1p(volume)": 1.033, "fit_s": [0, 0]},
    {"model": "statsforecast AutoETS", "close": 1.004, "log1p(volume)": 0.944, "fit_s": [8, 7]},
    {
        "model": "statsforecast MSTL(24,168) + ETS trend",
        "close": 1.079,
        "log1p(volume)": 0.887,
        "fit_s": [2, 7],
        "note": "forecast 90 s",
    },
    {
        "model": "darts BlockRNNModel LSTM(64), MinMax on price level",
        "close": 1.574,
        "log1p(volume)": 0.929,
        "fit_s": [20, 10],
    },
    {
        "model": "darts RNNModel LSTM(64), MinMax on price level",
        "close": 1.322,
        "log1p(volume)": 0.822,
        "fit_s": [52, 36],
    },
    {"model": "neuralforecast LSTM(64)", "close": 1.497, "log1p(volume)": 0.807, "fit_s": [24, 18]},
    {
        "model": "plain Keras LSTM(64) -> Dense(24), log returns, standardised",
        "close": 1.016,
        "log1p(volume)": 0.800,
        "fit_s": [33, 39],
    },
]

# candlecast's targets for its published champion on this file (BENCHMARK.md).
GOALS: dict[str, float] = {
    "close_mae_rel_max": 1.000,
    "log1p(volume)_mae_rel_max": 0.78,
    "coverage_within_points": 5.0,
    "cell_fit_seconds_max": 30.0,
}


@dataclass(frozen=True)
class Protocol:
    """The numbers of the protocol, in days of `per_day` candles."""

    days: int = 365
    train_days: int = 300
    test_days: int = 65
    validation_days: int = 65  # the end of the training part, for intervals and the champion
    per_day: int = 24
    step: int = 24
    horizon: int = 24
    season: int = 24
    levels: tuple[float, ...] = (0.8, 0.95)
    timeframe: str = "1h"
    max_gap: int = 24  # longest gap filled with synthetic candles (hours)

    @property
    def total(self) -> int:
        return self.days * self.per_day

    @property
    def train(self) -> int:
        return self.train_days * self.per_day

    def test_spec(self) -> FoldSpec:
        """Fit on the training part, origins every `step` through the test part."""
        return FoldSpec.holdout(
            test=self.test_days * self.per_day, step=self.step, horizon=self.horizon
        )

    def validation_spec(self) -> FoldSpec:
        """The same layout inside the training part: applied to the first `train` candles."""
        return FoldSpec.holdout(
            test=self.validation_days * self.per_day, step=self.step, horizon=self.horizon
        )


@dataclass(frozen=True)
class Target:
    name: str
    values: Callable[[pd.DataFrame], pd.Series]
    interval_mode: str  # "relative" for prices (width scales with the level), else "absolute"


TARGETS: tuple[Target, ...] = (
    Target("close", lambda frame: frame["close"].rename("close"), "relative"),
    Target(
        "log1p(volume)", lambda frame: np.log1p(frame["volume"]).rename("log1p(volume)"), "absolute"
    ),
)


def baseline_factories(protocol: Protocol) -> dict[str, ForecasterFactory]:
    """Baselines and statistical models.

    seasonal naive: one day back (the protocol's row). ets: damped trend + daily seasonality
    (24 seasonal states; 168 would make the Kalman filter ~50x slower). theta: deseasonalised
    with the timeframe's longest period (168 h = a week, which holds the daily cycle too); on
    the validation backtest it beat theta(24) on log1p(volume), 0.858 vs 0.888 MAE/naive.
    """
    h, season = protocol.horizon, protocol.season
    longest = max(seasonal_periods(protocol.timeframe))
    return {
        "naive": lambda: NaiveForecaster(h),
        "seasonal_naive": lambda: SeasonalNaiveForecaster(season, h),
        "drift": lambda: DriftForecaster(h),
        "ets": lambda: ETSForecaster(h, seasonal_period=season),
        "theta": lambda: ThetaForecaster(h, period=longest),
    }


def network_factories(protocol: Protocol, target: str = "close") -> dict[str, ForecasterFactory]:
    """The four cells (simple, lstm, gru, bidirectional) with candlecast's default settings
    (`Config()`: window, units, calendar inputs, training budget, seed).

    The target is given as values (close, or log1p(volume)); the transform is candlecast's
    default for it: log returns for the price; for log1p(volume), its level (`level`), which is
    candlecast's default `log1p` of the raw volume.
    """
    from candlecast.core.config import Config
    from candlecast.core.models.network import NetworkForecaster
    from candlecast.plugins.manager import PluginHost

    cells = PluginHost(entry_points=False).get("cells")
    defaults = Config()
    model = defaults.model.model_copy(
        update={
            "horizon": protocol.horizon,
            "transform": "log_return" if target == "close" else "level",
        }
    )
    factories: dict[str, ForecasterFactory] = {}
    for cell_config in defaults.model.cells:

        def factory(cell_config=cell_config) -> NetworkForecaster:
            return NetworkForecaster(
                cells[cell_config.name],
                cells,
                cell_config,
                model,
                defaults.training,
                protocol.timeframe,
            )

        factories[cell_config.id] = factory
    return factories


def candidate_factories(protocol: Protocol, target: str = "close") -> dict[str, ForecasterFactory]:
    return baseline_factories(protocol) | network_factories(protocol, target)


def load_year(csv: Path, protocol: Protocol) -> tuple[pd.DataFrame, dict[str, object]]:
    """The last `days` of the CSV as a gap-filled candle frame, and what was done to it."""
    raw = pd.read_csv(csv, usecols=["timestamp", "open", "high", "low", "close", "volume"])
    index = pd.DatetimeIndex(pd.to_datetime(raw.pop("timestamp"), utc=True), name="timestamp")
    frame = raw.astype("float64").set_axis(index).assign(synthetic=False)
    filled, report = fill_gaps(frame, protocol.timeframe, max_gap=protocol.max_gap)
    if len(filled) < protocol.total:
        raise SystemExit(
            f"{csv} holds {len(filled)} contiguous {protocol.timeframe} candles after gap "
            f"filling; the protocol needs the last {protocol.days} days ({protocol.total})"
        )
    year = filled.iloc[-protocol.total :]
    info = {
        "path": str(csv),
        "rows_in_file": len(raw),
        "first": year.index[0].isoformat(),
        "last": year.index[-1].isoformat(),
        "train_ends": year.index[protocol.train - 1].isoformat(),
        "gaps": report.summary(),
        "synthetic_in_window": int(year["synthetic"].sum()),
    }
    return year, info


@dataclass(frozen=True)
class ModelRun:
    """One model on one target: validation and test backtests, intervals, cost."""

    name: str
    validation: BacktestResult
    test: BacktestResult
    calibration: IntervalCalibration  # from the validation backtest alone
    bands: Bands  # as published: recalibrated at each origin on the latest complete origins
    peak_rss_mib: float


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def evaluate_model(csv: Path, target_name: str, model: str, protocol: Protocol) -> ModelRun:
    """Validation backtest (training part only), intervals from it, then the test backtest."""
    frame, _ = load_year(csv, protocol)
    target = next(t for t in TARGETS if t.name == target_name)
    y = target.values(frame)
    factory = candidate_factories(protocol, target_name)[model]
    train = protocol.train
    validation = backtest(
        factory, frame.iloc[:train], y.iloc[:train], protocol.validation_spec(), name=model
    )
    calibration = calibrate(validation, protocol.levels, target.interval_mode)
    test = backtest(factory, frame, y, protocol.test_spec(), name=model)
    bands = rolling_bands(validation, test, protocol.levels, target.interval_mode, window=65)
    return ModelRun(model, validation, test, calibration, bands, _peak_rss_mib())


def _scale(frame: pd.DataFrame, y: pd.Series, end: int) -> float:
    traded = ~frame["synthetic"].to_numpy(dtype=bool)[:end]
    return naive_scale(y.to_numpy()[:end], traded)


def evaluate_target(
    csv: Path,
    target: Target,
    models: list[str],
    protocol: Protocol,
    rule: ChampionRule,
    *,
    in_process: bool,
) -> dict[str, object]:
    """Every model on one target, the champion from validation, the table from the test part."""
    runs: dict[str, ModelRun] = {}
    for model in models:
        if in_process:
            runs[model] = evaluate_model(csv, target.name, model, protocol)
        else:
            # a fresh process per model: its peak RSS is its own, nothing leaks between models
            with ProcessPoolExecutor(max_workers=1, mp_context=get_context("spawn")) as pool:
                runs[model] = pool.submit(
                    evaluate_model, csv, target.name, model, protocol
                ).result()
        print(f"  {target.name:>14} {model:<16} done", file=sys.stderr, flush=True)

    frame, _ = load_year(csv, protocol)
    y = target.values(frame)
    validation_fit_end = runs[models[0]].validation.folds[0].train_end
    validation_board = leaderboard(
        {m: r.validation for m, r in runs.items()}, _scale(frame, y, validation_fit_end), levels=()
    )
    choice = choose_champion(validation_board, rule)
    test_scale = _scale(frame, y, protocol.train)
    board = leaderboard(
        {m: r.test for m, r in runs.items()},
        test_scale,
        levels=protocol.levels,
        given_bands={m: r.bands for m, r in runs.items()},
    )
    rows = []
    for model in [*models, "champion"]:
        name = choice.model if model == "champion" else model
        stats = board.loc[name]
        rows.append(
            {
                "model": f"champion ({name})" if model == "champion" else model,
                "family": stats["family"],
                "mae": float(stats["mae"]),
                "mae_rel": float(stats["mae_rel"]),
                "smape": float(stats["smape"]),
                "mase": float(stats["mase"]),
                "directional_accuracy": float(stats["directional_accuracy"]),
                **{
                    f"{kind}_{level * 100:g}": float(stats[f"{kind}_{level * 100:g}"])
                    for level in protocol.levels
                    for kind in ("coverage", "width")
                },
                "fit_s": float(stats["fit_seconds"]),
                "forecast_s": float(stats["predict_seconds"]),
                "validation_fit_s": float(runs[name].validation.fit_seconds.sum()),
                "peak_rss_mib": runs[name].peak_rss_mib,
            }
        )
    return {
        "interval_mode": target.interval_mode,
        "mase_scale": test_scale,
        "origins": int(runs[models[0]].test.n_origins),
        "scored_cells": int(board["n"].iloc[0]),
        "rows": rows,
        "champion": choice.to_dict()
        | {"chosen_on": "validation backtest inside the training part"},
        "validation": [
            {"model": m, "mase": float(v["mase"]), "mae_rel": float(v["mae_rel"])}
            for m, v in validation_board.iterrows()
        ],
    }


def checks(results: dict[str, dict], protocol: Protocol) -> dict[str, object]:
    """candlecast's targets against the champion rows (and each network's fit time)."""
    out: dict[str, object] = {}
    for target, goal in (
        ("close", "close_mae_rel_max"),
        ("log1p(volume)", "log1p(volume)_mae_rel_max"),
    ):
        if target not in results:
            continue
        champion = results[target]["rows"][-1]
        out[f"{target}: champion MAE/naive <= {GOALS[goal]:.3f}"] = (
            champion["mae_rel"] <= GOALS[goal]
        )
        for level in protocol.levels:
            points = abs(champion[f"coverage_{level * 100:g}"] - level) * 100
            out[
                f"{target}: champion {level:.0%} coverage within {GOALS['coverage_within_points']:g} points"
            ] = points <= GOALS["coverage_within_points"]
        for row in results[target]["rows"][:-1]:
            if row["family"] == "network":
                out[f"{target}: {row['model']} fit <= {GOALS['cell_fit_seconds_max']:g} s"] = (
                    row["fit_s"] <= GOALS["cell_fit_seconds_max"]
                )
    return out


def print_table(results: dict[str, dict], protocol: Protocol) -> None:
    levels = [f"{level * 100:g}" for level in protocol.levels]
    header = (
        f"{'model':<24}{'family':<12}{'MAE':>11}{'MAE/naive':>10}{'sMAPE%':>8}{'MASE':>8}"
        + "".join(f"{'cov' + tag:>7}" for tag in levels)
        + f"{'fit s':>8}{'fcst s':>8}{'RSS MiB':>9}"
    )
    for target, result in results.items():
        print(f"\n{target} (intervals: {result['interval_mode']}; {result['origins']} origins)")
        print(header)
        for row in result["rows"]:
            print(
                f"{row['model']:<24}{row['family']:<12}{row['mae']:>11.4g}{row['mae_rel']:>10.3f}"
                f"{row['smape']:>8.3f}{row['mase']:>8.3f}"
                + "".join(f"{row['coverage_' + tag]:>7.3f}" for tag in levels)
                + f"{row['fit_s']:>8.2f}{row['forecast_s']:>8.2f}{row['peak_rss_mib']:>9.0f}"
            )
        print(f"champion, chosen on the validation backtest: {result['champion']['reason']}")
    print("\nother libraries on BTCUSDT_binance-spot_1h.csv (BENCHMARK.md), MAE/naive:")
    for ref in REFERENCE:
        print(f"  {ref['model']:<62}{ref['close']:>7.3f}{ref['log1p(volume)']:>7.3f}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("csv", nargs="?", type=Path, default=DEFAULT_CSV)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--only", help="comma-separated model names (default: all)")
    parser.add_argument(
        "--in-process", action="store_true", help="no subprocess per model (RSS is then cumulative)"
    )
    parser.add_argument(
        "--tie-tolerance",
        type=float,
        help="champion tie tolerance (relative); default: candlecast's configured default",
    )
    args = parser.parse_args(argv)
    if not args.csv.is_file():
        print(f"bench/forecast: skipped, no data at {args.csv} (pass the CSV path as an argument)")
        return 0
    for variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(variable, "1")  # one thread per model, as the reference figures

    protocol = Protocol()
    available = list(candidate_factories(protocol))
    models = available if not args.only else [m.strip() for m in args.only.split(",")]
    unknown = [m for m in models if m not in available]
    if unknown or not models:
        parser.error(f"unknown model(s) {', '.join(unknown)}; known: {', '.join(available)}")
    defaults = BacktestConfig()
    tolerance = defaults.tie_tolerance if args.tie_tolerance is None else args.tie_tolerance
    rule = ChampionRule(metric=defaults.metric, tolerance=tolerance)
    _, data = load_year(args.csv, protocol)

    started = time.perf_counter()
    results = {
        target.name: evaluate_target(
            args.csv, target, models, protocol, rule, in_process=args.in_process
        )
        for target in TARGETS
    }
    seconds = time.perf_counter() - started
    print_table(results, protocol)
    passed = checks(results, protocol)
    print("\ncandlecast targets:")
    for name, ok in passed.items():
        print(f"  [{'x' if ok else ' '}] {name}")
    print(f"\n{seconds:.0f} s in all")

    report = {
        "benchmark": "forecast",
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "seconds": seconds,
        "protocol": asdict(protocol) | {"champion_rule": asdict(rule)},
        "data": data,
        "machine": {
            "python": platform.python_version(),
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "numpy": np.__version__,
            "pandas": pd.__version__,
            "isolation": "in-process" if args.in_process else "one process per model",
        },
        "results": results,
        "goals": GOALS,
        "checks": passed,
        "reference": REFERENCE,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2, default=str) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
