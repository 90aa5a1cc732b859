"""bench/forecast: the forecast-accuracy protocol of ../shared/BENCHMARK.md, for candlecast.

    .venv/bin/python bench/forecast.py [CSV ...] [--out bench/results/forecast.json]
                                       [--only naive,gru] [--targets close] [--in-process]

CSVs default to every `*_1h.csv` in ../shared/data/ (hourly `timestamp,open,high,low,close,
volume[,...]`); a missing file is skipped with a message. One table per file and target, then a
summary across files.

The protocol, all of it in `Protocol` and `evaluate_target` below:
  - the last 365 days (8,760 hourly candles, gaps filled as candlecast fills them: synthetic
    candles, never scored); the first 300 days train, the last 65 days test;
  - origins every 24 candles through the test part, 24 candles forecast from each; every model is
    fitted once, before the first origin, and never refitted;
  - MAE, MAE / naive's MAE, sMAPE, MASE (scale: mean absolute one-step naive error over the
    training part), coverage of the 80% and 95% intervals overall and in each half of the test
    part, the interval (Winkler) score, fit and forecast seconds, peak RSS;
  - the champion is decided as candlecast decides it, on a validation backtest inside the
    training part (the same layout shifted back), never on the test part; the `combination`
    candidate averages every network and statistical model of that validation backtest,
    weighted by skill (candlecast's `backtest.combination`);
  - intervals as a scheduled candlecast run publishes them: at each test origin, calibrated on
    the newest complete origins of its selection backtest (origins `backtest.step` candles apart
    over `backtest.span_days`), residuals divided by the volatility at their origin
    (`normalised`, candlecast's default), beside the same calibration without it (`static`)
    and GARCH(1,1)'s own bands.
Also per target: how much the published champion loses against the best single candidate on
the test part, and how often the champion changes between consecutive daily runs (each day's
selection backtest re-scored on the four weeks before it, with the models fitted once).

Each (file, target, model) runs in a fresh process, so its peak RSS is its own.
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
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from itertools import pairwise
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
    GarchForecaster,
    NaiveForecaster,
    SeasonalNaiveForecaster,
    ThetaForecaster,
    backtest,
    choose_champion,
    coverage,
    interval_score,
    leaderboard,
    naive_scale,
    sequential_bands,
)
from candlecast.core.evaluation.combination import NAME, choose_members, combine_backtests
from candlecast.core.evaluation.forecaster import ForecasterFactory
from candlecast.core.evaluation.volatility import volatility
from candlecast.core.market.gaps import fill_gaps
from candlecast.core.market.timeframes import seasonal_periods

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
DEFAULT_OUT = ROOT / "bench" / "results" / "forecast.json"

# What other libraries scored on BTCUSDT_binance-spot_1h.csv (BENCHMARK.md, measured 2026-11-27):
# MAE / naive's MAE for close and log1p(volume), fit seconds (close, volume).
REFERENCE: list[dict[str, object]] = [
    {"model": "statsforecast AutoETS", "close": 1.004, "log1p(volume)": 0.944},
    {"model": "statsforecast MSTL(24,168) + ETS trend", "close": 1.079, "log1p(volume)": 0.887},
    {"model": "darts BlockRNNModel LSTM(64)", "close": 1.574, "log1p(volume)": 0.929},
    {"model": "darts RNNModel LSTM(64)", "close": 1.322, "log1p(volume)": 0.822},
    {"model": "neuralforecast LSTM(64)", "close": 1.497, "log1p(volume)": 0.807},
    {"model": "plain Keras LSTM(64) -> Dense(24)", "close": 1.016, "log1p(volume)": 0.800},
]

# candlecast's targets (issue #13, BENCHMARK.md), per file.
GOALS = {
    "close_mae_rel_max": 1.000,
    "volume_mae_rel_max": {"BTCUSDT_binance-spot_1h.csv": 0.75, "default": 0.68},
    "coverage_within_points": 3.0,
    "half_coverage_within_points": 5.0,
    "winkler_vs_static_max": 0.90,
    "champion_vs_best_single_max": 1.01,
    "cell_fit_seconds_max": 30.0,
}


@dataclass(frozen=True)
class Protocol:
    """The numbers of the protocol, in days of `per_day` candles; the selection backtest's
    layout is candlecast's default (`BacktestConfig`)."""

    days: int = 365
    train_days: int = 300
    test_days: int = 65
    validation_days: int = 65  # the end of the training part, for the champion
    per_day: int = 24
    step: int = 24  # the protocol's origins
    horizon: int = 24
    season: int = 24
    levels: tuple[float, ...] = (0.8, 0.95)
    timeframe: str = "1h"
    max_gap: int = 24  # longest gap filled with synthetic candles (hours)
    selection_step: int = BacktestConfig().step or 3  # candlecast's backtest origins
    selection_days: float = BacktestConfig().span_days
    halflife_days: float = BacktestConfig().volatility_halflife_days
    combination: str = BacktestConfig().combination

    @property
    def total(self) -> int:
        return self.days * self.per_day

    @property
    def train(self) -> int:
        return self.train_days * self.per_day

    @property
    def window(self) -> int:
        """Complete origins each band is calibrated on: the selection backtest's."""
        return int(self.selection_days * self.per_day / self.selection_step)

    def dense(self, days: int) -> FoldSpec:
        """Fit before the last `days`, then origins every `selection_step` through them (the
        protocol's every-24 origins are among them)."""
        return FoldSpec.holdout(
            test=days * self.per_day, step=self.selection_step, horizon=self.horizon
        )


@dataclass(frozen=True)
class Target:
    name: str
    values: Callable[[pd.DataFrame], pd.Series]
    interval_mode: str  # "relative" for prices (width scales with the level), else "absolute"


TARGETS: dict[str, Target] = {
    "close": Target("close", lambda frame: frame["close"].rename("close"), "relative"),
    "log1p(volume)": Target(
        "log1p(volume)", lambda frame: np.log1p(frame["volume"]).rename("v"), "absolute"
    ),
}


def baseline_factories(protocol: Protocol, target: Target) -> dict[str, ForecasterFactory]:
    """Baselines and statistical models. theta: deseasonalised with the timeframe's longest
    period (168 h holds the daily cycle too; it beat theta(24) on log1p(volume) validation)."""
    h, season = protocol.horizon, protocol.season
    longest = max(seasonal_periods(protocol.timeframe))
    return {
        "naive": lambda: NaiveForecaster(h),
        "seasonal_naive": lambda: SeasonalNaiveForecaster(season, h),
        "drift": lambda: DriftForecaster(h),
        "ets": lambda: ETSForecaster(h, seasonal_period=season),
        "theta": lambda: ThetaForecaster(h, period=longest),
        "garch": lambda: GarchForecaster(h, mode=target.interval_mode),
    }


def network_factories(protocol: Protocol, target: Target) -> dict[str, ForecasterFactory]:
    """The four cells with candlecast's default settings (`Config()`); the target is given as
    values, so the transform is candlecast's default for it: log returns for the price, the
    level for log1p(volume) (candlecast's `log1p` of the raw volume)."""
    from candlecast.core.config import Config
    from candlecast.core.models.network import NetworkForecaster
    from candlecast.plugins.manager import PluginHost

    cells = PluginHost(entry_points=False).get("cells")
    defaults = Config()
    model = defaults.model.for_target("close").model_copy(
        update={
            "horizon": protocol.horizon,
            "transform": "log_return" if target.name == "close" else "level",
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


def candidate_factories(protocol: Protocol, target: Target) -> dict[str, ForecasterFactory]:
    return baseline_factories(protocol, target) | network_factories(protocol, target)


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
    """One model on one target: dense validation and test backtests (origins every
    `selection_step`), and what it cost."""

    name: str
    validation: BacktestResult
    test: BacktestResult
    peak_rss_mib: float


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def evaluate_model(csv: Path, target_name: str, model: str, protocol: Protocol) -> ModelRun:
    """Validation backtest (training part only), then the test backtest: each fits once."""
    frame, _ = load_year(csv, protocol)
    target = TARGETS[target_name]
    y = target.values(frame)
    factory = candidate_factories(protocol, target)[model]
    levels = protocol.levels
    train = protocol.train
    validation = backtest(
        factory,
        frame.iloc[:train],
        y.iloc[:train],
        protocol.dense(protocol.validation_days),
        name=model,
        levels=levels,
    )
    test = backtest(
        factory, frame, y, protocol.dense(protocol.test_days), name=model, levels=levels
    )
    return ModelRun(model, validation, test, _peak_rss_mib())


def subset(result: BacktestResult, rows: np.ndarray) -> BacktestResult:
    """The backtest on `rows` of its origins only (bands too)."""
    bands = None
    if result.bands is not None:
        bands = {lvl: (low[rows], high[rows]) for lvl, (low, high) in result.bands.items()}
    return replace(
        result,
        origins=result.origins[rows],
        origin_times=result.origin_times[rows],
        origin_values=result.origin_values[rows],
        fold_of=result.fold_of[rows],
        forecasts=result.forecasts[rows],
        actuals=result.actuals[rows],
        mask=result.mask[rows],
        bands=bands,
    )


def _bands(run: ModelRun, mode: str, protocol: Protocol, scale: np.ndarray | None) -> Bands:
    """What a scheduled run publishes at each dense test origin: its own bands (GARCH), or
    conformal on the newest `window` complete origins, normalised when `scale` is given."""
    if run.test.bands is not None and scale is not None:
        return run.test.bands
    return sequential_bands(
        run.test,
        protocol.levels,
        mode,
        window=protocol.window,
        history=run.validation,
        scale=None if scale is None else scale[run.test.origins],
        history_scale=None if scale is None else scale[run.validation.origins],
    )


def _interval_stats(
    test: BacktestResult, bands: Bands, rows: np.ndarray, protocol: Protocol
) -> dict[str, float]:
    """Coverage (overall, each half) and the interval score per level, on the protocol rows."""
    out: dict[str, float] = {}
    halves = np.array_split(np.flatnonzero(rows), 2)
    for level in protocol.levels:
        tag = f"{level * 100:g}"
        low, high = bands[level]
        mask = test.mask & rows[:, None]
        out[f"coverage_{tag}"] = coverage(low, high, test.actuals, mask).overall
        out[f"winkler_{tag}"] = interval_score(low, high, test.actuals, level, mask).overall
        for i, half in enumerate(halves, start=1):
            part = np.zeros(len(rows), dtype=bool)
            part[half] = True
            half_mask = test.mask & part[:, None]
            out[f"coverage_{tag}_h{i}"] = coverage(low, high, test.actuals, half_mask).overall
    return out


def _daily_champions(
    runs: dict[str, ModelRun], scale: float, protocol: Protocol, rule: ChampionRule
) -> list[str]:
    """The champion a daily run would pick on each test day: the selection backtest of the
    four weeks of origins complete before that day (models fitted once), with the
    combination re-chosen on it."""
    # validation origins are positions in the training part, which starts where the year does
    history = {name: _concat(run.validation, run.test) for name, run in runs.items()}
    complete = next(iter(history.values())).origins + protocol.horizon
    champions = []
    for day in range(protocol.test_days):
        now = protocol.train + day * protocol.per_day
        known = np.flatnonzero(complete <= now)[-protocol.window :]
        results = {name: subset(both, known) for name, both in history.items()}
        board = leaderboard(results, scale, levels=())
        combination = choose_members(board, metric=rule.metric, weighting=protocol.combination)
        if combination is not None:
            results[NAME] = combine_backtests(results, combination)
            board = leaderboard(results, scale, levels=())
        champions.append(choose_champion(board, rule).model)
    return champions


def _concat(a: BacktestResult, b: BacktestResult) -> BacktestResult:
    return replace(
        b,
        origins=np.concatenate([a.origins, b.origins]),
        origin_times=a.origin_times.append(b.origin_times),
        origin_values=np.concatenate([a.origin_values, b.origin_values]),
        fold_of=np.concatenate([a.fold_of, b.fold_of]),
        forecasts=np.vstack([a.forecasts, b.forecasts]),
        actuals=np.vstack([a.actuals, b.actuals]),
        mask=np.vstack([a.mask, b.mask]),
        bands=None,
    )


def _run_models(
    csv: Path, target: Target, models: list[str], protocol: Protocol, in_process: bool
) -> dict[str, ModelRun]:
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
        print(f"  {csv.name} {target.name:>14} {model:<16} done", file=sys.stderr, flush=True)
    return runs


def _add_combination(
    runs: dict[str, ModelRun], validation_scale: float, protocol: Protocol, metric: str
) -> str | None:
    """The combination of the best models of the validation backtest, as a model run."""
    board = leaderboard({m: r.validation for m, r in runs.items()}, validation_scale, levels=())
    combination = choose_members(board, metric=metric, weighting=protocol.combination)
    if combination is None:
        return None
    members = {m: runs[m] for m in combination.members}
    runs[NAME] = ModelRun(
        NAME,
        combine_backtests({m: r.validation for m, r in members.items()}, combination),
        combine_backtests({m: r.test for m, r in members.items()}, combination),
        max(r.peak_rss_mib for r in members.values()),
    )
    return combination.describe()


def evaluate_target(
    csv: Path,
    target: Target,
    models: list[str],
    protocol: Protocol,
    rule: ChampionRule,
    *,
    in_process: bool,
) -> dict[str, object]:
    """Every model on one target of one file: the champion from validation, the table from
    the test part."""
    runs = _run_models(csv, target, models, protocol, in_process)
    frame, _ = load_year(csv, protocol)
    y = target.values(frame)
    traded = ~frame["synthetic"].to_numpy(dtype=bool)
    values = y.to_numpy(dtype="float64")
    first = runs[models[0]]
    validation_scale = naive_scale(
        values[: first.validation.folds[0].train_end], traded[: first.validation.folds[0].train_end]
    )
    test_scale = naive_scale(values[: protocol.train], traded[: protocol.train])
    combined = _add_combination(runs, validation_scale, protocol, rule.metric)
    vol = volatility(
        values, target.interval_mode, protocol.halflife_days * protocol.per_day, traded
    )
    rows = (first.test.origins - first.test.origins[0]) % protocol.step == 0
    validation_board = leaderboard(
        {m: r.validation for m, r in runs.items()}, validation_scale, levels=()
    )
    choice = choose_champion(validation_board, rule)
    tests = {m: subset(r.test, rows) for m, r in runs.items()}
    bands = {m: _bands(r, target.interval_mode, protocol, vol) for m, r in runs.items()}
    board = leaderboard(
        tests,
        test_scale,
        levels=protocol.levels,
        bands={
            m: {lvl: (lo[rows], hi[rows]) for lvl, (lo, hi) in b.items()} for m, b in bands.items()
        },
    )
    table = []
    for model in [*runs, "champion"]:
        name = choice.model if model == "champion" else model
        run, stats = runs[name], board.loc[name]
        normal = _interval_stats(run.test, bands[name], rows, protocol)
        static = _interval_stats(
            run.test, _bands(run, target.interval_mode, protocol, None), rows, protocol
        )
        table.append(
            {
                "model": f"champion ({name})" if model == "champion" else model,
                "family": stats["family"],
                "mae": float(stats["mae"]),
                "mae_rel": float(stats["mae_rel"]),
                "smape": float(stats["smape"]),
                "mase": float(stats["mase"]),
                **normal,
                **{f"static_{k}": v for k, v in static.items()},
                "fit_s": float(run.test.fit_seconds.sum()),
                "forecast_s": float(run.test.predict_seconds.sum()),
                "validation_mase": float(validation_board.at[name, "mase"]),
                "peak_rss_mib": run.peak_rss_mib,
            }
        )
    singles = [r for r in table[:-1] if r["model"] != NAME]
    best_single = min(singles, key=lambda r: r["mae"])
    daily = _daily_champions(
        {m: r for m, r in runs.items() if m != NAME}, test_scale, protocol, rule
    )
    changes = sum(a != b for a, b in pairwise(daily))
    return {
        "interval_mode": target.interval_mode,
        "mase_scale": test_scale,
        "origins": int(rows.sum()),
        "rows": table,
        "champion": choice.to_dict()
        | {"chosen_on": "validation backtest inside the training part"},
        "combination": combined,
        "best_single": {"model": best_single["model"], "mae": best_single["mae"]},
        "champion_vs_best_single": table[-1]["mae"] / best_single["mae"],
        "daily_champions": daily,
        "champion_changes": {"days": len(daily), "changes": changes},
    }


def checks(csv: Path, results: dict[str, dict]) -> dict[str, bool]:
    """candlecast's targets (issue #13) against one file's results."""
    out: dict[str, bool] = {}
    close = results.get("close")
    if close is not None:
        champion = close["rows"][-1]
        out["close: champion MAE/naive <= 1.000"] = (
            champion["mae_rel"] <= GOALS["close_mae_rel_max"]
        )
        for tag, level in (("80", 0.8), ("95", 0.95)):
            points = abs(champion[f"coverage_{tag}"] - level) * 100
            out[f"close: {tag}% coverage within 3 points"] = (
                points <= GOALS["coverage_within_points"]
            )
            for half in ("h1", "h2"):
                points = abs(champion[f"coverage_{tag}_{half}"] - level) * 100
                out[f"close: {tag}% coverage within 5 points in {half}"] = (
                    points <= GOALS["half_coverage_within_points"]
                )
        ratio = champion["winkler_80"] / champion["static_winkler_80"]
        out["close: interval score 80% >= 10% below static"] = (
            ratio <= GOALS["winkler_vs_static_max"]
        )
        garch = next((r for r in close["rows"] if r["model"] == "garch"), None)
        if garch is not None:
            out["close: interval score 80% <= GARCH's"] = (
                champion["winkler_80"] <= garch["winkler_80"]
            )
    volume = results.get("log1p(volume)")
    if volume is not None:
        goal = GOALS["volume_mae_rel_max"]
        limit = goal.get(csv.name, goal["default"])
        out[f"log1p(volume): champion MAE/naive <= {limit:.2f}"] = (
            volume["rows"][-1]["mae_rel"] <= limit
        )
        out["log1p(volume): champion within 1% of the best single candidate"] = (
            volume["champion_vs_best_single"] <= GOALS["champion_vs_best_single_max"]
        )
    for name, result in results.items():
        for row in result["rows"][:-1]:
            if row["family"] == "network":
                out[f"{name}: {row['model']} fit < 30 s"] = (
                    row["fit_s"] < GOALS["cell_fit_seconds_max"]
                )
    return out


def print_table(csv: Path, results: dict[str, dict]) -> None:
    header = (
        f"{'model':<26}{'MAE/naive':>10}{'MASE':>8}{'cov80':>7}{'h1':>6}{'h2':>6}{'cov95':>7}"
        f"{'h1':>6}{'h2':>6}{'IS80':>11}{'static':>11}{'IS95':>11}{'fit s':>7}{'RSS':>6}"
    )
    for target, result in results.items():
        print(
            f"\n{csv.name} — {target} ({result['interval_mode']} bands, {result['origins']} origins)"
        )
        print(header)
        for row in result["rows"]:
            print(
                f"{row['model']:<26}{row['mae_rel']:>10.3f}{row['mase']:>8.3f}"
                f"{row['coverage_80']:>7.3f}{row['coverage_80_h1']:>6.2f}{row['coverage_80_h2']:>6.2f}"
                f"{row['coverage_95']:>7.3f}{row['coverage_95_h1']:>6.2f}{row['coverage_95_h2']:>6.2f}"
                f"{row['winkler_80']:>11.4g}{row['static_winkler_80']:>11.4g}{row['winkler_95']:>11.4g}"
                f"{row['fit_s']:>7.1f}{row['peak_rss_mib']:>6.0f}"
            )
        print(f"champion, chosen on the validation backtest: {result['champion']['reason']}")
        if result["combination"]:
            print(f"combination: {result['combination']}")
        print(
            f"champion vs the best single candidate on the test part ({result['best_single']['model']}): "
            f"MAE x{result['champion_vs_best_single']:.3f}; daily champion changes: "
            f"{result['champion_changes']['changes']} in {result['champion_changes']['days']} days"
        )


def print_summary(per_file: dict[str, dict]) -> None:
    print("\nsummary across files (champion rows)")
    print(
        f"{'file':<40}{'target':<15}{'champion':<26}{'MAE/naive':>10}{'cov80':>7}{'cov95':>7}{'IS80/static':>12}"
    )
    for name, results in per_file.items():
        for target, result in results.items():
            row = result["rows"][-1]
            print(
                f"{name:<40}{target:<15}{row['model']:<26}{row['mae_rel']:>10.3f}"
                f"{row['coverage_80']:>7.3f}{row['coverage_95']:>7.3f}"
                f"{row['winkler_80'] / row['static_winkler_80']:>12.3f}"
            )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("csv", nargs="*", type=Path)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--only", help="comma-separated model names (default: all)")
    parser.add_argument("--targets", default="close,log1p(volume)")
    parser.add_argument(
        "--in-process", action="store_true", help="no subprocess per model (RSS is then cumulative)"
    )
    args = parser.parse_args(argv)
    csvs = args.csv or sorted(DATA.glob("*_1h.csv"))
    present = [c for c in csvs if c.is_file()]
    for missing in set(csvs) - set(present):
        print(f"bench/forecast: skipped {missing}: no such file")
    if not present:
        print(f"bench/forecast: skipped, no data (looked for *_1h.csv in {DATA}; pass CSV paths)")
        return 0
    for variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(variable, "1")  # one thread per model, as the reference figures

    protocol = Protocol()
    targets = [TARGETS[t.strip()] for t in args.targets.split(",")]
    available = list(candidate_factories(protocol, targets[0]))
    models = available if not args.only else [m.strip() for m in args.only.split(",")]
    unknown = [m for m in models if m not in available]
    if unknown or not models:
        parser.error(f"unknown model(s) {', '.join(unknown)}; known: {', '.join(available)}")
    defaults = BacktestConfig()
    rule = ChampionRule(metric=defaults.metric, tolerance=defaults.tie_tolerance)

    started = time.perf_counter()
    per_file, data, passed = {}, {}, {}
    for csv in present:
        _, data[csv.name] = load_year(csv, protocol)
        per_file[csv.name] = {
            t.name: evaluate_target(csv, t, models, protocol, rule, in_process=args.in_process)
            for t in targets
        }
        print_table(csv, per_file[csv.name])
        passed[csv.name] = checks(csv, per_file[csv.name])
    seconds = time.perf_counter() - started
    print_summary(per_file)
    print("\ncandlecast targets:")
    for name, results in passed.items():
        for check, ok in results.items():
            print(f"  [{'x' if ok else ' '}] {name}: {check}")
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
            "isolation": "in-process" if args.in_process else "one process per model",
        },
        "results": per_file,
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
