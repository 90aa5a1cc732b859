"""bench/nab: candlecast's anomaly detectors on the Numenta Anomaly Benchmark, scored by NAB.

    python bench/nab.py [--cpus 2] [--causality-files 3] [--work DIR] [--out FILE]

For each of NAB v1.1's 58 labelled series, as the flow's anomaly step does it:

- the series becomes candles: close = the value, open = the previous value, high/low their
  max/min, a constant volume (NAB has none), open times in UTC; the timeframe is the nearest
  supported one to the median spacing (5m for most files);
- its decomposition is made as the flow's decompose stage makes it (`decompose_candles`; the
  values are shifted positive for its log: NAB has zeros; only decomposition-based detectors
  and the report read it);
- `core.pipeline.flagging.flag_series`, the flow's anomaly step, runs the detectors of the
  default configuration (`flows.runtime.default_detectors`) with the default `[anomalies]`
  settings, judging every candle (a first run over the whole series: `since=None`);
- the row's NAB score is the calibrated per-candle score that step reports
  (`Detection.rarity`: each candle's rarity, from the candles up to it only).

One configuration for every file; the labels are read only by NAB's scorer. NAB's own
`run_detector.py` writes the results, runs NAB's optimise/score/normalise (standard,
reward_low_FP_rate, reward_low_FN_rate) and re-runs the callable on 60% prefixes of
`--causality-files` files to check that no score changes when the future is removed. This
script prints the three scores, the score per category (NAB's normalisation applied to each
category's files, at the corpus thresholds), the causality check, the wall time and the
anomaly step's seconds per series, and writes them to bench/results/nab.json.

Where things are:
- NAB: `../shared/nab` next to the repository, or `CANDLECAST_NAB_HOME`. Without it the bench
  says so and exits 0.
- NAB's scorer needs pandas < 3, so it runs in its own environment: `CANDLECAST_NAB_PYTHON`
  names its python; otherwise `~/.cache/candlecast/nab-venv` is used, and built on first use
  (`python3 -m venv` + pip install "pandas>=2,<3" "numpy<3" simplejson scikit-learn).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]

DETECTOR = "candlecast"
PROFILES = ("standard", "reward_low_FP_rate", "reward_low_FN_rate")
DEFAULT_NAB = ROOT / ".." / "shared" / "nab"
DEFAULT_VENV = Path.home() / ".cache" / "candlecast" / "nab-venv"
SCORER_PACKAGES = ("pandas>=2,<3", "numpy<3", "simplejson", "scikit-learn")
RESULTS = ROOT / "bench" / "results" / "nab.json"
TIMINGS = "CANDLECAST_NAB_TIMINGS"  # a file the callable appends its step times to
SERIES = "nab:{}/VALUE:{}"

_DETECTORS: dict[str, object] | None = None


def detectors() -> dict[str, object]:
    """The default configuration's detectors, as the flow resolves them (once per process)."""
    global _DETECTORS
    if _DETECTORS is None:
        from candlecast.flows.runtime import default_detectors
        from candlecast.plugins.manager import get_host

        _DETECTORS = default_detectors(get_host().get("detectors"))
    return _DETECTORS


def timeframe_of(timestamps: pd.Series) -> str:
    """The supported timeframe nearest (in log) to the median spacing of `timestamps`."""
    from candlecast.core.market.timeframes import SUPPORTED, timeframe_seconds

    spacing = float(pd.Series(timestamps).diff().dt.total_seconds().median())
    spacing = spacing if np.isfinite(spacing) and spacing > 0 else 300.0
    return min(SUPPORTED, key=lambda tf: abs(np.log(timeframe_seconds(tf) / spacing)))


def candles_of(df: pd.DataFrame) -> pd.DataFrame:
    """A NAB series as a candle frame (see the module docstring)."""
    value = df["value"].to_numpy(dtype="float64")
    previous = np.concatenate([value[:1], value[:-1]])
    index = pd.DatetimeIndex(pd.to_datetime(df["timestamp"])).tz_localize("UTC")
    return pd.DataFrame(
        {
            "open": previous,
            "high": np.maximum(previous, value),
            "low": np.minimum(previous, value),
            "close": value,
            "volume": np.ones(len(value)),
            "synthetic": np.zeros(len(value), dtype=bool),
        },
        index=index.rename("timestamp"),
    )


def score(df: pd.DataFrame) -> np.ndarray:
    """NAB's callable: one series in, one score per row in [0, 1] (the flow's anomaly step)."""
    from candlecast.core.config import AnomalyConfig
    from candlecast.core.decomposition import decompose_candles
    from candlecast.core.pipeline.flagging import flag_series

    settings = AnomalyConfig()
    candles = candles_of(df)
    timeframe = timeframe_of(df["timestamp"])
    positive = candles.copy()
    for column in ("open", "high", "low", "close"):
        positive[column] = candles[column] - float(candles["low"].min()) + 1.0
    started = time.perf_counter()
    decomposition = decompose_candles(positive, timeframe)
    decomposed = time.perf_counter()
    detection = flag_series(
        SERIES.format(len(df), timeframe),
        timeframe,
        candles,
        decomposition,
        detectors(),
        since=None,
        forecasts=None,
        open_events=[],
        target_fpr=settings.target_fpr,
        merge=settings.merge,
    )
    finished = time.perf_counter()
    if os.environ.get(TIMINGS):
        with open(os.environ[TIMINGS], "a") as log:
            log.write(f"{len(df)} {decomposed - started:.4f} {finished - decomposed:.4f}\n")
    if detection.rarity is None:
        return np.zeros(len(df))
    return np.clip(np.nan_to_num(detection.rarity.to_numpy(dtype="float64")), 0.0, 1.0)


def scorer_python(build: bool) -> str:
    """NAB's scorer's python: CANDLECAST_NAB_PYTHON, else the cached venv (built if missing)."""
    named = os.environ.get("CANDLECAST_NAB_PYTHON")
    if named:
        return named
    python = DEFAULT_VENV / "bin" / "python"
    if python.exists():
        return str(python)
    if not build:
        raise SystemExit(f"no NAB scorer environment at {DEFAULT_VENV}; run without --no-build")
    print(f"building NAB's scorer environment in {DEFAULT_VENV} (pandas<3; once)", flush=True)
    DEFAULT_VENV.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(["python3", "-m", "venv", str(DEFAULT_VENV)], check=True)
    subprocess.run([str(python), "-m", "pip", "install", "-q", *SCORER_PACKAGES], check=True)
    return str(python)


def per_category(nab: Path, results: Path) -> dict[str, dict[str, float]]:
    """NAB's normalisation applied to each category's files (at the corpus thresholds)."""
    windows = json.loads((nab / "labels" / "combined_windows.json").read_text())
    profiles = json.loads((nab / "config" / "profiles.json").read_text())
    out: dict[str, dict[str, float]] = {}
    for profile in PROFILES:
        ours = pd.read_csv(results / DETECTOR / f"{DETECTOR}_{profile}_scores.csv")
        null = pd.read_csv(results / "null" / f"null_{profile}_scores.csv")
        ours = ours[ours["File"].notna() & (ours["Detector"] != "Totals")]
        null = null[null["File"].notna() & (null["Detector"] != "Totals")]
        tp_weight = profiles[profile]["CostMatrix"]["tpWeight"]
        for category in sorted({f.split("/")[0] for f in ours["File"]}):
            mine = ours[ours["File"].str.startswith(category + "/")]["Score"].sum()
            base = null[null["File"].str.startswith(category + "/")]["Score"].sum()
            count = sum(len(w) for f, w in windows.items() if f.startswith(category + "/"))
            perfect = count * tp_weight
            value = 100.0 * (mine - base) / (perfect - base) if perfect != base else float("nan")
            out.setdefault(category, {})[profile] = round(float(value), 2)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cpus", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--causality-files", type=int, default=3)
    parser.add_argument("--work", default=str(ROOT / "bench" / "results" / "nab-work"))
    parser.add_argument("--out", default=str(RESULTS))
    parser.add_argument("--no-build", action="store_true", help="never build the scorer venv")
    args = parser.parse_args(argv)

    nab = Path(os.environ.get("CANDLECAST_NAB_HOME") or DEFAULT_NAB).resolve()
    if not (nab / "run_detector.py").exists() or not (nab / "data").is_dir():
        print(
            f"bench/nab skipped: no NAB at {nab} (set CANDLECAST_NAB_HOME to a NAB v1.1 copy "
            f"with run_detector.py)"
        )
        return 0
    work = Path(args.work).resolve()
    if any(p in str(work) for p in PROFILES):
        raise SystemExit(f"--work {work} contains a NAB profile name; NAB would misread it")
    work.mkdir(parents=True, exist_ok=True)
    timings = work / "timings.txt"
    timings.unlink(missing_ok=True)
    env = dict(
        os.environ,
        NAB_HOME=str(nab),
        NAB_WORK=str(work),
        NAB_PYTHON=scorer_python(build=not args.no_build),
        **{TIMINGS: str(timings)},
    )
    command = [
        sys.executable,
        str(nab / "run_detector.py"),
        "--detector",
        DETECTOR,
        "--callable",
        f"{Path(__file__).resolve()}:score",
        "--cpus",
        str(args.cpus),
        "--causality-files",
        str(args.causality_files),
    ]
    started = time.time()
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    wall = time.time() - started
    if done.returncode != 0:
        sys.stderr.write(done.stdout[-3000:] + done.stderr[-3000:])
        raise SystemExit(f"NAB's run_detector.py failed (rc {done.returncode})")
    run = work / "runs" / DETECTOR
    summary = json.loads((run / "summary.json").read_text())
    steps = np.loadtxt(timings, ndmin=2) if timings.exists() else np.zeros((0, 3))
    categories = per_category(nab, run / "results")
    causal = summary.get("causality_check", [])
    report = {
        "scores": {p: round(summary["scores"][p]["normalized"], 2) for p in PROFILES},
        "counts": summary["scores"],
        "per_category": categories,
        "causality": causal,
        "causality_passed": bool(causal) and all(c["ok"] for c in causal),
        "wall_s": round(wall, 1),
        "detect_s": summary.get("detect_seconds"),
        "nab_scorer_s": summary.get("nab_seconds"),
        "anomaly_step_s_per_series": round(float(steps[:, 2].mean()), 3) if len(steps) else None,
        "anomaly_step_s_per_1000_candles": (
            round(float((steps[:, 2] / steps[:, 0]).mean() * 1000), 4) if len(steps) else None
        ),
        "decompose_s_per_series": round(float(steps[:, 1].mean()), 3) if len(steps) else None,
        "files": summary.get("files"),
    }
    print(f"NAB v1.1, detector {DETECTOR!r} (the flow's anomaly step, default configuration)")
    print("  " + "  ".join(f"{p} {report['scores'][p]:.2f}" for p in PROFILES))
    print(f"  {'category':24s} {'standard':>9s} {'low FP':>9s} {'low FN':>9s}")
    for category, values in categories.items():
        print(
            f"  {category:24s} {values['standard']:9.2f} {values['reward_low_FP_rate']:9.2f} "
            f"{values['reward_low_FN_rate']:9.2f}"
        )
    for check in causal:
        verdict = "ok" if check["ok"] else "LOOK-AHEAD"
        print(f"  causality {check['file']}: max |diff| {check['max_abs_diff']:.3g} {verdict}")
    print(
        f"  wall {wall:.0f} s (detect {report['detect_s']} s, scorer {report['nab_scorer_s']} s); "
        f"anomaly step {report['anomaly_step_s_per_series']} s per series "
        f"({report['anomaly_step_s_per_1000_candles']} s per 1,000 candles), decomposition "
        f"{report['decompose_s_per_series']} s per series"
    )
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
