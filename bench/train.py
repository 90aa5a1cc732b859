"""bench/train: what training each cell costs, and warm start against full retraining.

    .venv/bin/python bench/train.py [CSV] [--out bench/results/train.json]
                                    [--cells simple,lstm,gru,bidirectional] [--warm-epochs 3]
                                    [--repeats 3]

CSV defaults to ../shared/data/BTCUSDT_binance-spot_1h.csv (hourly `timestamp,open,high,low,
close,volume[,...]`); when it is absent the benchmark says so and exits without running.

The work, for each cell with candlecast's default model and training settings (window 48,
horizon 24, 32 units, calendar features, seq2vec head, log returns, up to 30 epochs with early
stopping, batch 64):

  1. **train**: fit on 365 days of close prices (8,760 hourly candles, gaps filled as candlecast
     fills them). Training throughput (training samples x epochs / seconds in `model.fit`),
     seconds per epoch, and the whole `fit` (windows, scaling, building, compiling, training).
  2. **a week later**: the same 365 days plus the next 7 days (168 candles), either
     - **warm**: the trained model continues for `warm_start_epochs` (3) epochs, scalers kept
       (`NetworkForecaster.fit(..., warm=True)`), or
     - **full**: a new model trained from scratch on all 372 days.
  3. **accuracy check** of step 2: the 7 days after those (never trained on) are forecast from
     an origin every 24 candles; MAE of each model's 24-step forecasts relative to naive's
     (the last close), for the model of step 1 ("stale", not updated), warm and full.

So the 365 training days end 14 days before the file's last candle. Warm and full runs repeat
`--repeats` times in alternating order (the same seed gives the same epochs and weights, only
the timings vary) and the medians are reported. Timings are wall-clock on a shared machine:
compare ratios measured in one run (warm / full), not absolute seconds across runs. TensorFlow
is imported before any timing. Output: a table on stdout and a JSON file with every figure.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from candlecast.core.config import CellConfig, ModelConfig, TrainingConfig
from candlecast.core.market.gaps import fill_gaps
from candlecast.core.models.network import NetworkForecaster
from candlecast.core.models.training import TrainingReport

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CSV = ROOT.parent / "shared" / "data" / "BTCUSDT_binance-spot_1h.csv"
DEFAULT_OUT = ROOT / "bench" / "results" / "train.json"
CELLS = ("simple", "lstm", "gru", "bidirectional")
CELL_MODULES = tuple(f"candlecast.plugins.cells.{name}" for name in CELLS)


@dataclass(frozen=True)
class Layout:
    """The days of the benchmark, in candles of `per_day`."""

    train_days: int = 365
    extra_days: int = 7  # new data for the warm start / full retraining
    test_days: int = 7  # after that: forecast, never trained on
    per_day: int = 24
    origin_every: int = 24
    timeframe: str = "1h"
    max_gap: int = 24  # longest gap filled with synthetic candles

    @property
    def train(self) -> int:
        return self.train_days * self.per_day

    @property
    def extended(self) -> int:
        return self.train + self.extra_days * self.per_day

    @property
    def total(self) -> int:
        return self.extended + self.test_days * self.per_day


def load_candles(csv: Path, layout: Layout) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The last `layout.total` candles of the CSV, gap-filled, and what was done to them."""
    raw = pd.read_csv(csv, usecols=["timestamp", "open", "high", "low", "close", "volume"])
    index = pd.DatetimeIndex(pd.to_datetime(raw.pop("timestamp"), utc=True), name="timestamp")
    frame = raw.astype("float64").set_axis(index).assign(synthetic=False)
    filled, report = fill_gaps(frame, layout.timeframe, max_gap=layout.max_gap)
    if len(filled) < layout.total:
        raise SystemExit(
            f"{csv} holds {len(filled)} contiguous {layout.timeframe} candles after gap filling; "
            f"the benchmark needs {layout.total} ({layout.train_days} + {layout.extra_days} + "
            f"{layout.test_days} days)"
        )
    candles = filled.iloc[-layout.total :]
    info = {
        "path": str(csv),
        "rows_in_file": len(raw),
        "train": [candles.index[0].isoformat(), candles.index[layout.train - 1].isoformat()],
        "extra": [
            candles.index[layout.train].isoformat(),
            candles.index[layout.extended - 1].isoformat(),
        ],
        "test": [candles.index[layout.extended].isoformat(), candles.index[-1].isoformat()],
        "gaps": report.summary(),
        "synthetic": int(candles["synthetic"].sum()),
    }
    return candles, info


def _training(report: TrainingReport, wall: float) -> dict[str, Any]:
    return {
        "samples": report.samples,
        "epochs": report.epochs,
        "best_epoch": report.best_epoch,
        "train_loss": report.train_loss,
        "val_loss": report.val_loss,
        "keras_fit_s": report.seconds,
        "fit_s": wall,
        "s_per_epoch": report.seconds / report.epochs if report.epochs else None,
        "samples_per_s": report.samples_per_second,
    }


def _timed_fit(network: NetworkForecaster, frame: pd.DataFrame, *, warm: bool) -> dict[str, Any]:
    y = frame["close"].rename("close")
    started = time.perf_counter()
    report = network.fit(frame, y, warm=warm)
    return _training(report, time.perf_counter() - started)


def _mae_relative(
    networks: dict[str, NetworkForecaster], candles: pd.DataFrame, layout: Layout, horizon: int
) -> dict[str, float]:
    """MAE of each network over the test origins, divided by naive's MAE on the same steps."""
    y = candles["close"].rename("close")
    values = y.to_numpy(dtype="float64")
    origins = np.arange(layout.extended - 1, len(values) - horizon, layout.origin_every)
    actual = np.stack([values[o + 1 : o + 1 + horizon] for o in origins])  # [origins, H]
    naive = np.abs(actual - values[origins, None]).mean()
    scores = {}
    for name, network in networks.items():
        forecast = network.predict_at(candles, y, origins)  # [origins, H]
        scores[name] = float(np.abs(actual - forecast).mean() / naive)
    scores["origins"] = len(origins)
    return scores


def bench_cell(
    name: str,
    cells: dict[str, Any],
    candles: pd.DataFrame,
    layout: Layout,
    warm_epochs: int,
    repeats: int,
) -> dict[str, Any]:
    # candlecast's defaults: window 48, horizon 24, calendar, seq2vec; the close's networks
    model = ModelConfig().for_target("close")
    training = TrainingConfig(warm_start_epochs=warm_epochs)
    cell_config = CellConfig(name=name)

    def network() -> NetworkForecaster:
        return NetworkForecaster(cells[name], cells, cell_config, model, training, layout.timeframe)

    base = candles.iloc[: layout.train]
    extended = candles.iloc[: layout.extended]
    stale = network()
    train = _timed_fit(stale, base, warm=False)

    warm_runs, full_runs = [], []
    for repeat in range(repeats):  # same seed: same epochs and weights, only timings vary
        order = ("warm", "full") if repeat % 2 == 0 else ("full", "warm")
        for which in order:
            if which == "warm":
                warm_model = _copy(stale, network())
                warm_runs.append(_timed_fit(warm_model, extended, warm=True))
            else:
                full_model = network()
                full_runs.append(_timed_fit(full_model, extended, warm=False))
    warm, full = _median(warm_runs), _median(full_runs)
    accuracy = _mae_relative(
        {"stale": stale, "warm": warm_model, "full": full_model}, candles, layout, model.horizon
    )
    return {
        "cell": name,
        "parameters": int(full_model.keras_model.count_params()),
        "train": train,
        "warm": warm,
        "full": full,
        "repeats": {"warm": warm_runs, "full": full_runs},
        "warm_over_full_fit_s": warm["fit_s"] / full["fit_s"],
        "mae_over_naive": accuracy,
    }


def _copy(source: NetworkForecaster, target: NetworkForecaster) -> NetworkForecaster:
    """`target` holding a copy of `source`'s trained model and scalers."""
    import keras

    target.keras_model = keras.models.clone_model(source.keras_model)
    target.keras_model.set_weights(source.keras_model.get_weights())
    target.input_scaler, target.target_scaler = source.input_scaler, source.target_scaler
    target.channel_names = list(source.channel_names)
    return target


def _median(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The first run's figures with the timings replaced by the median over all runs."""
    timed = ("keras_fit_s", "fit_s", "s_per_epoch", "samples_per_s")
    return runs[0] | {key: float(np.median([run[key] for run in runs])) for key in timed}


def print_table(rows: list[dict[str, Any]], layout: Layout) -> None:
    print(
        f"\ntraining on {layout.train_days} days ({layout.train} hourly candles), then "
        f"{layout.extra_days} more days: warm start vs full retraining; MAE/naive on the "
        f"{layout.test_days} days after"
    )
    head = (
        f"{'cell':<14}{'samples':>8}{'epochs':>7}{'s/epoch':>8}{'samples/s':>10}{'fit s':>8}"
        f"{'warm s':>8}{'(ep)':>5}{'full s':>8}{'(ep)':>5}{'warm/full':>10}"
        f"{'stale':>7}{'warm':>7}{'full':>7}"
    )
    print(head)
    print("-" * len(head))
    for row in rows:
        t, w, f, a = row["train"], row["warm"], row["full"], row["mae_over_naive"]
        print(
            f"{row['cell']:<14}{t['samples']:>8}{t['epochs']:>7}{t['s_per_epoch']:>8.2f}"
            f"{t['samples_per_s']:>10.0f}{t['fit_s']:>8.1f}{w['fit_s']:>8.1f}{w['epochs']:>5}"
            f"{f['fit_s']:>8.1f}{f['epochs']:>5}{row['warm_over_full_fit_s']:>10.2f}"
            f"{a['stale']:>7.3f}{a['warm']:>7.3f}{a['full']:>7.3f}"
        )
    print(
        "\nsamples/s: training samples x epochs / seconds in keras fit (validation included); "
        "fit s: the whole NetworkForecaster.fit; warm s and full s: medians of the repeats. "
        "MAE/naive below 1.000 beats naive."
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("csv", nargs="?", type=Path, default=DEFAULT_CSV)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--cells", default=",".join(CELLS), help="comma-separated built-in cells")
    parser.add_argument("--warm-epochs", type=int, default=3, help="training.warm_start_epochs")
    parser.add_argument(
        "--repeats", type=int, default=3, help="warm and full runs per cell (medians reported)"
    )
    args = parser.parse_args(argv)
    if not args.csv.is_file():
        print(f"bench/train: skipped, no data at {args.csv} (pass the CSV path as an argument)")
        return 0
    names = [n.strip() for n in args.cells.split(",") if n.strip()]
    unknown = [n for n in names if n not in CELLS]
    if unknown or not names:
        parser.error(f"unknown cell(s) {', '.join(unknown)}; known: {', '.join(CELLS)}")
    if args.warm_epochs < 1 or args.repeats < 1:
        parser.error(
            f"--warm-epochs and --repeats must be at least 1, got {args.warm_epochs} and "
            f"{args.repeats}"
        )
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras  # imported before any timing: TensorFlow's start-up is not training
    import tensorflow as tf

    from candlecast.plugins.manager import PluginHost

    cells = PluginHost(builtins=CELL_MODULES, entry_points=False).get("cells")
    layout = Layout()
    candles, data = load_candles(args.csv, layout)
    load_before = os.getloadavg()
    started = time.perf_counter()
    rows = []
    for name in names:
        print(f"{name}: training ...", flush=True)
        rows.append(bench_cell(name, cells, candles, layout, args.warm_epochs, args.repeats))
    seconds = time.perf_counter() - started
    print_table(rows, layout)
    print(
        f"\n{seconds:.0f} s in all; load average {load_before[0]:.1f} -> {os.getloadavg()[0]:.1f}"
    )

    report = {
        "benchmark": "train",
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "seconds": seconds,
        "layout": asdict(layout),
        "repeats": args.repeats,
        "settings": {
            "model": ModelConfig().for_target("close").model_dump(mode="json", exclude={"cells"}),
            "training": TrainingConfig(warm_start_epochs=args.warm_epochs).model_dump(mode="json"),
            "units": CellConfig(name="gru").units,
        },
        "data": data,
        "machine": {
            "python": platform.python_version(),
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "load_average": {"before": load_before, "after": os.getloadavg()},
            "tensorflow": tf.__version__,
            "keras": keras.__version__,
        },
        "results": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2, default=str) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
