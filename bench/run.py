"""bench/run: the whole scheduled flow end to end, for 1 to 100 series, then incremental runs.

    .venv/bin/python bench/run.py [CSV] [--sizes 1,4,16,64,100] [--skip-full-above 16]
                                  [--runners threads,dask] [--scopes series,global]
                                  [--repeats 3] [--epochs 10] [--no-warm] [--no-reference]
                                  [--baselines naive,seasonal_naive,drift,theta]
                                  [--out bench/results/run.json]

CSV defaults to ../shared/data/BTCUSDT_binance-spot_1h.csv (relative to the repository); when it
is absent the benchmark says so and exits without running. The data is read where it lies, never
copied; databases, models, outputs and the Prefect server's home live in a temporary folder.

The protocol (../shared/BENCHMARK.md, "End-to-end run"):
  * A sandbox exchange on 127.0.0.1 replays the CSV through Binance's spot API under N symbol
    names (the same candles each), its clock 4 candles before the end of the file.
  * A Prefect server (`prefect server start`, on loopback) records the runs, as in production.
  * full run: a fresh process runs the forecast flow in mode "train" on an empty store: fetch
    through real ccxt (backfill), prepare, decompose, train and backtest all four cells, the
    baselines, forecast with intervals, flag anomalies, record to SQLite, publish files
    (CSV + Parquet), render the report.
  * incremental run: the sandbox releases one new candle; a fresh process (as a scheduled run
    is) runs mode "forecast" on the filled store. Repeated `--repeats` times, medians shown.
  * reference: the 1-series full run pinned to one core, for the ideal of the 16-series run
    (16 single-series runs divided by the cores in use).
  * warm, threads: one process runs a forecast-only run, the sandbox releases a candle, and the
    same process runs the next one, with its model cache and traced graphs; the second run is
    the row (with its cache hits).
  * warm, dask ("served"): what `candlecast serve` does: a LocalCluster of long-lived workers
    (`deploy.serve.warm_workers`), each run a fresh flow process sending its tasks there; the
    second of two runs is the row, its peak memory the flow process plus the workers.
  * sizes above `--skip-full-above` skip the measured full run (too slow on 2 shared cores):
    their store is filled by one full run of the first symbol whose registered models are copied
    to the others (every symbol replays the same candles, so the copies are what their own
    trainings would give), then one unmeasured forecast-only run; the incremental and warm rows
    are measured as for the others. Global scope (`--scopes global`: one network per cell and
    target for all series) fills a skipped size with a 1-epoch full run of 200 windows per
    series instead (the training budget is not part of a model's fingerprint).
  * baselines: the protocol's four (`--baselines`); the default configuration adds ETS and
    GARCH, whose cold ETS fit alone costs minutes per series and target on this machine.
Each row: seconds of the flow (and of the whole process, imports included), seconds per stage
(from the Prefect API: wall span of each task family), exchange requests by endpoint (sandbox
counters), peak memory (RSS of the process and all its children, sampled; PSS beside it),
models trained.

Budget (so that the 16-series runs finish on 2 shared cores): history_days 90 (2,160 hourly
candles), window 48, horizon 24, four cells of 32 units, `--epochs` 10 (default 30) with
patience 4, the default backtest (48 origins, 3 apart, fit once), baselines naive,
seasonal_naive, drift, theta; anomalies on (90-day lookback). Full runs are measured once each
(minutes apiece); the incremental runs are repeated. Shared machines are noisy: compare ratios
measured in the same run.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
DEFAULT_CSV = REPO.parent / "shared" / "data" / "BTCUSDT_binance-spot_1h.csv"
DEFAULT_OUT = REPO / "bench" / "results" / "run.json"
BASES = ("BTC", "ETH", "BNB", "SOL", "XRP", "ADA", "DOGE", "TRX")
BASES += ("DOT", "LTC", "LINK", "AVAX", "ATOM", "XLM", "ETC", "BCH")
SYMBOLS = [f"{base}/USDT" for base in BASES]  # 16 names, the same candles under each
SYMBOLS += [f"T{i:03d}/USDT" for i in range(len(SYMBOLS), 100)]  # and 84 more: 100 in all
HELD_BACK = 8  # candles the sandbox withholds at the start; each incremental run releases one
MARKER = "BENCH-RESULT "
BASELINES = ["naive", "seasonal_naive", "drift", "theta"]  # the protocol's (`--baselines`)
STAGES = (
    ("fetch", "sync-candles"),
    ("prepare", "prepare-series"),
    ("decompose", "decompose"),
    ("train+backtest", "network", "networks"),  # per network; reused ones, one per series
    ("baselines", "baselines"),
    ("anomalies", "detect-anomalies"),
    ("record", "record-run"),
    ("publish", "publish"),
    ("report", "render-report"),
)


def bench_config(
    symbols: list[str], url: str, home: Path, runner: str, epochs: int, scope: str | None = None
) -> dict[str, Any]:
    """The budgeted, otherwise default configuration (see the module docstring)."""
    orchestration: dict[str, Any] = {"task_runner": runner}
    if runner == "dask":
        orchestration |= {"dask_workers": None, "threads_per_worker": 1}
    return {
        "source": {"exchange": "binance", "url": url, "symbols": symbols, "history_days": 90},
        "model": {"scope": scope or "series"},
        "training": {"epochs": epochs},
        "backtest": {"baselines": list(BASELINES)},
        "storage": {"data_home": str(home)},
        "publish": {"publishers": ["files"], "formats": ["csv", "parquet"]},
        "orchestration": orchestration,
    }


# -- the child process: one flow run ------------------------------------------------------------


def child(spec: dict[str, Any]) -> None:
    """Run the flow once as a scheduled run would, in this fresh process; print one JSON line."""
    started = time.perf_counter()
    if spec.get("one_core"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    import sqlalchemy as sa

    from candlecast.core.config import available_cores, build_config
    from candlecast.core.storage.registry import models
    from candlecast.flows.forecast import forecast_flow
    from candlecast.flows.runner import build_task_runner
    from candlecast.flows.runtime import open_store

    config = build_config(spec["config"])
    store = open_store(config.storage.resolved_database_url)

    def trained() -> int:
        with store.engine.connect() as conn:
            return conn.execute(sa.select(sa.func.count()).select_from(models)).scalar()

    before = trained()
    runner = build_task_runner(config)
    imported = time.perf_counter()
    state = forecast_flow.with_options(task_runner=runner)(
        config=config, mode=spec["mode"], return_state=True
    )
    flow_seconds = time.perf_counter() - imported
    if spec.get("warm"):
        # a served process: the same process runs the next scheduled run (one new candle)
        # with TensorFlow, the loaded models and their traced graphs still in memory
        from candlecast.core.models.cache import MODELS

        first = {
            "flow_seconds": flow_seconds,
            "stages": stage_spans(state.state_details.flow_run_id),
        }
        sandbox_control(spec["sandbox"], "release")
        requests_before = sandbox_control(spec["sandbox"], "status")["requests"]
        hits_before = MODELS.stats.hits
        before = trained()
        imported = time.perf_counter()
        state = forecast_flow.with_options(task_runner=runner)(
            config=config, mode=spec["mode"], return_state=True
        )
        flow_seconds = time.perf_counter() - imported
        requests_after = sandbox_control(spec["sandbox"], "status")["requests"]
    summary = state.result(raise_on_failure=False)
    result = {
        "status": summary.get("status") if isinstance(summary, dict) else str(state.type),
        "errors": {
            k: v["error"] or v.get("model_failures")
            for k, v in (summary.get("series", {}) if isinstance(summary, dict) else {}).items()
            if v["error"] or v.get("model_failures")
        },
        "flow_seconds": flow_seconds,
        "process_seconds": time.perf_counter() - started,
        "startup_seconds": imported - started,
        "models_trained": trained() - before,
        "cores": available_cores(),
        "task_runner": config.orchestration.task_runner,
        "dask_address": config.orchestration.dask_address,
        "stages": stage_spans(state.state_details.flow_run_id),
    }
    if spec.get("warm"):
        result["first_run"] = first
        result["requests"] = requests_between(requests_before, requests_after)
        result["model_cache_hits"] = MODELS.stats.hits - hits_before
    print(MARKER + json.dumps(result), flush=True)


def sandbox_control(url: str, what: str) -> dict[str, Any]:
    """The sandbox's control API: `release` one candle, or read its `status`."""
    request = urllib.request.Request(
        f"{url}/sandbox/{what}", method="POST" if what == "release" else "GET"
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        return json.loads(answer.read())


def stage_spans(flow_run_id: Any) -> dict[str, dict[str, float]]:
    """Per task family of the flow run (from the Prefect API): the wall span from the first
    start to the last end, the summed task seconds, and the number of task runs."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    runs = []
    with get_client(sync_client=True) as client:
        while True:
            page = client.read_task_runs(
                flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id])),
                limit=200,
                offset=len(runs),
            )
            runs.extend(page)
            if len(page) < 200:
                break
    spans: dict[str, dict[str, float]] = {}
    for name, *prefixes in STAGES:
        family = [
            r for r in runs if r.name.rsplit("-", 1)[0] in prefixes and r.start_time and r.end_time
        ]
        if not family:
            continue
        first = min(r.start_time for r in family)
        last = max(r.end_time for r in family)
        spans[name] = {
            "span": (last - first).total_seconds(),
            "task_seconds": sum(r.total_run_time.total_seconds() for r in family),
            "tasks": len(family),
        }
    return spans


# -- the parent: a Prefect server, the sandbox, children, memory -----------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def prefect_server(home: Path) -> Iterator[str]:
    """`prefect server start` on loopback with its own home; yields the API URL."""
    port = free_port()
    env = os.environ | {
        "PREFECT_HOME": str(home),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_UI_ENABLED": "false",
        "PREFECT_LOGGING_LEVEL": "WARNING",
    }
    env.pop("PREFECT_API_URL", None)
    log = open(home / "server.log", "w")  # noqa: SIM115 (closed in finally)
    command = [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1"]
    server = subprocess.Popen(
        [*command, "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}/api"
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=2) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the Prefect server did not start; see {home / 'server.log'}")
            time.sleep(0.5)
        yield url
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
        log.close()


class PeakRss:
    """Samples the memory of a process and all its descendants: `peak`, the largest sum of
    their RSS (what the protocol asks; shared library pages count once per process), and
    `peak_pss`, the largest sum of their proportional set sizes (shared pages divided among
    the processes sharing them: closer to what the machine actually holds). Bytes."""

    def __init__(self, pid: int, every: float = 0.2) -> None:
        import psutil

        self.process = psutil.Process(pid)
        self.peak = 0
        self.peak_pss = 0
        self.every = every
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        import psutil

        while not self.stop.is_set():
            rss = pss = 0
            try:
                for proc in [self.process, *self.process.children(recursive=True)]:
                    with contextlib.suppress(psutil.Error):
                        info = proc.memory_full_info()
                        rss += info.rss
                        pss += getattr(info, "pss", info.rss)
            except psutil.Error:
                pass
            self.peak = max(self.peak, rss)
            self.peak_pss = max(self.peak_pss, pss)
            self.stop.wait(self.every)

    def close(self) -> tuple[int, int]:
        self.stop.set()
        self.thread.join()
        return self.peak, self.peak_pss


def run_child(spec: dict[str, Any], env: dict[str, str], timeout: float) -> dict[str, Any]:
    """One child process; its result plus wall seconds and peak memory (bytes)."""
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, str(Path(__file__).resolve()), "--child", json.dumps(spec)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    sampler = PeakRss(process.pid)
    try:
        output, _ = process.communicate(timeout=timeout)
    finally:
        peak, peak_pss = sampler.close()
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.communicate()
    lines = [line for line in output.splitlines() if line.startswith(MARKER)]
    if process.returncode != 0 or not lines:
        tail = "\n".join(output.splitlines()[-40:])
        raise RuntimeError(f"benchmark run failed (exit {process.returncode}):\n{tail}")
    result = json.loads(lines[-1][len(MARKER) :])
    result["wall_seconds"] = time.perf_counter() - started
    result["peak_rss_bytes"] = peak
    result["peak_pss_bytes"] = peak_pss
    return result


def requests_between(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    names = {"/api/v3/exchangeInfo": "markets", "/api/v3/time": "time", "/api/v3/klines": "klines"}
    delta = {names.get(k, k): after.get(k, 0) - before.get(k, 0) for k in after}
    delta = {k: v for k, v in delta.items() if v}
    delta["total"] = sum(delta.values())
    return delta


def scenario(
    csv: Path,
    n: int,
    runner: str,
    tmp: Path,
    env: dict[str, str],
    args: argparse.Namespace,
    *,
    one_core: bool = False,
    incremental: int = 0,
    warm: bool = False,
    scope: str | None = None,
) -> dict[str, Any]:
    """A full run of `n` series, then `incremental` incremental runs (one new candle each)."""
    from candlecast.sandbox import SandboxExchange

    symbols = SYMBOLS[:n]
    label = f"{runner}-{n}" + ("-1core" if one_core else "") + (f"-{scope}" if scope else "")
    home = tmp / label
    out: dict[str, Any] = {"series": n, "runner": runner, "one_core": one_core, "scope": scope}
    skip_full = n > args.skip_full_above
    with SandboxExchange(csv=csv, symbols=symbols, hold_back=HELD_BACK) as sandbox:
        config = bench_config(symbols, sandbox.url, home, runner, args.epochs, scope)
        if skip_full and scope == "global":
            # one network per cell for all series: filled by an unmeasured full run on a
            # small budget (the budget is not part of a model's fingerprint, so it is reused)
            budget = config | {"training": {"epochs": 1, "max_windows": 200}}
            run_child({"config": budget, "mode": "train"}, env, args.timeout)
            sandbox.release(1)
            out["skipped_full"] = "filled by a 1-epoch, 200-window-per-series full run"
        elif skip_full:
            fill_by_cloning(csv, sandbox, symbols, home, runner, env, args)
            out["skipped_full"] = (
                f"filled: {symbols[0]}'s models cloned to the others, one unmeasured forecast run"
            )
        if skip_full:
            print(
                f"  {label:<16} full        SKIPPED (--skip-full-above {args.skip_full_above}): "
                f"{out['skipped_full']}",
                flush=True,
            )
        else:
            before = dict(sandbox.requests)
            full = run_child(
                {"config": config, "mode": "train", "one_core": one_core}, env, args.timeout
            )
            full["requests"] = requests_between(before, dict(sandbox.requests))
            out["full"] = full
            report(label, "full", full)
        repeats = []
        for _ in range(incremental):
            sandbox.release(1)
            before = dict(sandbox.requests)
            run = run_child({"config": config, "mode": "forecast"}, env, args.timeout)
            run["requests"] = requests_between(before, dict(sandbox.requests))
            repeats.append(run)
            report(label, "incremental", run)
        if repeats:
            out["incremental"] = {"repeats": repeats, "median": median_run(repeats)}
        if warm and not one_core and runner == "dask":
            out["warm"] = served_run(config, sandbox, env, args)
            report(label, "served", out["warm"])
        elif warm and not one_core:
            sandbox.release(1)  # the first run of the served process: one new candle
            run = run_child(
                {"config": config, "mode": "forecast", "warm": True, "sandbox": sandbox.url},
                env,
                args.timeout,
            )
            out["warm"] = run
            report(label, "warm", run)
    shutil.rmtree(home, ignore_errors=True)
    return out


def served_run(
    config: dict[str, Any], sandbox: Any, env: dict[str, str], args: argparse.Namespace
) -> dict[str, Any]:
    """What `candlecast serve` does (`deploy.serve.warm_workers`): a LocalCluster of long-lived
    Dask workers, and each scheduled run a fresh flow process (Prefect's runner spawns one per
    run) that sends its tasks there. Two forecast-only runs, one new candle each; the second is
    the row (its workers warm from the first). Peak memory: the flow process and the workers."""
    import psutil

    from candlecast.core.config import build_config
    from candlecast.deploy.serve import warm_workers

    saved = dict(os.environ)
    os.environ.update(env)  # the workers report their task runs to the bench's Prefect server
    try:
        with warm_workers(build_config(config)) as served:
            orchestration = served.orchestration.model_dump(mode="json", exclude_unset=True)
            spec: dict[str, Any] = {
                "config": config | {"orchestration": orchestration},  # dask, at the address
                "mode": "forecast",
            }
            sandbox.release(1)
            first = run_child(spec, env, args.timeout)
            sandbox.release(1)
            workers = [
                PeakRss(p.pid)
                for p in psutil.Process().children()
                if "spawn_main" in " ".join(p.cmdline())  # the workers, not the server
            ]
            before = dict(sandbox.requests)
            run = run_child(spec, env, args.timeout)
            peaks = [w.close() for w in workers]
            run["requests"] = requests_between(before, dict(sandbox.requests))
            if (run["task_runner"], run["dask_address"]) != (
                "dask",
                served.orchestration.dask_address,
            ):
                raise RuntimeError(f"the served run did not use the warm workers: {run}")
    finally:
        os.environ.clear()
        os.environ.update(saved)
    run["peak_rss_bytes"] += sum(peak for peak, _ in peaks)
    run["peak_pss_bytes"] += sum(pss for _, pss in peaks)
    run["workers"] = len(peaks)
    run["first_run"] = {"flow_seconds": first["flow_seconds"], "stages": first["stages"]}
    return run


def fill_by_cloning(
    csv: Path,
    sandbox: Any,
    symbols: list[str],
    home: Path,
    runner: str,
    env: dict[str, str],
    args: argparse.Namespace,
) -> None:
    """A filled store for `symbols` without training every series (`--skip-full-above`): a full
    run of the first symbol, its registered models copied to the others (every symbol replays
    the same candles, so the copies are what their own training would give: same data hash,
    same data range), then one unmeasured forecast run of all of them (their candles backfilled,
    their runs recorded, as an hourly schedule would have left them)."""
    import uuid

    import sqlalchemy as sa

    from candlecast.core.config import build_config
    from candlecast.core.market.candles import SeriesKey
    from candlecast.core.storage.registry import models
    from candlecast.flows.runtime import open_store

    first = bench_config(symbols[:1], sandbox.url, home, runner, args.epochs)
    run_child({"config": first, "mode": "train"}, env, args.timeout)
    config = build_config(first)
    store = open_store(config.storage.resolved_database_url)
    source = SeriesKey("binance", symbols[0], config.source.timeframe)
    with store.engine.begin() as conn:
        rows = [dict(r._mapping) for r in conn.execute(sa.select(models))]
        rows = [r for r in rows if r["series"] == str(source)]
        for symbol in symbols[1:]:
            key = SeriesKey("binance", symbol, config.source.timeframe)
            for row in rows:
                path = Path(row["path"].replace(source.slug, key.slug))
                path.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(row["path"], path)
                shutil.copyfile(Path(row["path"]).with_suffix(".json"), path.with_suffix(".json"))
                model_id = row["model_id"].rsplit("-", 1)[0] + "-" + uuid.uuid4().hex[:8]
                conn.execute(
                    sa.insert(models).values(
                        row | {"model_id": model_id, "series": str(key), "path": str(path)}
                    )
                )
    store.engine.dispose()
    full = bench_config(symbols, sandbox.url, home, runner, args.epochs)
    run_child({"config": full, "mode": "forecast"}, env, args.timeout)
    sandbox.release(1)


def median_run(runs: list[dict[str, Any]]) -> dict[str, Any]:
    keys = ("flow_seconds", "process_seconds", "wall_seconds", "models_trained")
    keys += ("peak_rss_bytes", "peak_pss_bytes")
    median = {k: statistics.median(r[k] for r in runs) for k in keys}
    median["requests"] = {
        k: statistics.median(r["requests"].get(k, 0) for r in runs)
        for k in {k for r in runs for k in r["requests"]}
    }
    median["status"] = ",".join(sorted({r["status"] for r in runs}))
    return median


def report(label: str, kind: str, run: dict[str, Any]) -> None:
    stages = "  ".join(f"{k} {v['span']:.1f}" for k, v in run["stages"].items())
    requests = " ".join(f"{k}={v}" for k, v in run["requests"].items())
    print(
        f"  {label:<16} {kind:<11} {run['status']:<7} flow {run['flow_seconds']:7.1f} s  "
        f"process {run['process_seconds']:6.1f} s  peak {run['peak_rss_bytes'] / 2**30:5.2f} GiB"
        f" (PSS {run['peak_pss_bytes'] / 2**30:4.2f})"
        f"  trained {run['models_trained']:>3}  requests {requests}",
        flush=True,
    )
    print(f"  {'':<16} stages (wall s): {stages}", flush=True)
    if run.get("errors"):
        print(f"  {'':<16} problems: {run['errors']}", flush=True)


def summary_table(results: dict[str, Any], cores: int) -> tuple[list[str], dict[str, Any]]:
    """Printable lines and the figures against the targets."""
    lines = []
    figures: dict[str, Any] = {}
    reference = results.get("reference")
    t1_one_core = reference["full"]["flow_seconds"] if reference else None
    header = (
        f"{'runner':<15} {'series':>6} {'full s':>8} {'process s':>9} {'peak GiB':>8} {'PSS':>5} "
        f"{'requests':>8} | {'incr s':>7} {'incr proc s':>11} {'incr req':>8} "
        f"{'retrained':>9} {'incr GiB':>8} | {'warm s':>6} {'warm req':>8} {'warm GiB':>8}"
    )
    lines += [header, "-" * len(header)]
    for runner, rows in results["runs"].items():
        for row in rows:
            full = row.get("full")
            inc = row.get("incremental", {}).get("median")
            warm = row.get("warm")
            lines.append(
                f"{runner:<15} {row['series']:>6} "
                + (
                    f"{full['flow_seconds']:>8.1f} "
                    f"{full['process_seconds']:>9.1f} {full['peak_rss_bytes'] / 2**30:>8.2f} "
                    f"{full['peak_pss_bytes'] / 2**30:>5.2f} "
                    f"{full['requests']['total']:>8} | "
                    if full
                    else f"{'(skipped: --skip-full-above)':>44} | "
                )
                + (
                    f"{inc['flow_seconds']:>7.1f} {inc['process_seconds']:>11.1f} "
                    f"{inc['requests'].get('total', 0):>8.0f} "
                    f"{'yes' if inc['models_trained'] else 'no':>9} "
                    f"{inc['peak_rss_bytes'] / 2**30:>8.2f}"
                    if inc
                    else f"{'(no incremental run)':>48}"
                )
                + (
                    f" | {warm['flow_seconds']:>6.1f} {warm['requests'].get('total', 0):>8} "
                    f"{warm['peak_rss_bytes'] / 2**30:>8.2f}"
                    if warm
                    else ""
                )
            )
        by_n = {row["series"]: row for row in rows}
        for n, row in by_n.items():
            inc = row.get("incremental", {}).get("median")
            if inc:
                figures.setdefault(runner, {})[f"incremental{n}"] = {
                    "flow_seconds": inc["flow_seconds"],
                    "process_seconds": inc["process_seconds"],
                    "requests_per_series": inc["requests"].get("total", 0) / n,
                    "retrained": bool(inc["models_trained"]),
                }
            if row.get("warm"):
                figures.setdefault(runner, {})[f"warm{n}"] = row["warm"]["flow_seconds"]
        if 1 in by_n and 16 in by_n and by_n[1].get("full") and by_n[16].get("full"):
            t1 = by_n[1]["full"]["flow_seconds"]
            t16 = by_n[16]["full"]["flow_seconds"]
            fig = {
                "t1": t1,
                "t16": t16,
                "t16_over_16_t1": t16 / (16 * t1),
            }
            if t1_one_core:
                ideal = 16 * t1_one_core / cores
                fig |= {"t1_one_core": t1_one_core, "ideal": ideal, "t16_over_ideal": t16 / ideal}
            inc16 = by_n[16].get("incremental", {}).get("median")
            if inc16:
                fig |= {
                    "incremental16_flow_seconds": inc16["flow_seconds"],
                    "incremental16_process_seconds": inc16["process_seconds"],
                    "incremental16_requests": inc16["requests"],
                    "incremental16_retrained": bool(inc16["models_trained"]),
                }
            for kind in ("rss", "pss"):
                fig[f"peak_{kind}_gib"] = (
                    max(
                        max(
                            r.get("full", {}).get(f"peak_{kind}_bytes", 0),
                            r.get("incremental", {}).get("median", {}).get(f"peak_{kind}_bytes", 0),
                        )
                        for r in rows
                    )
                    / 2**30
                )
            figures[runner] = figures.get(runner, {}) | fig
    return lines, figures


def targets(figures: dict[str, Any]) -> list[str]:
    lines = []
    for runner, f in figures.items():
        lines.append(f"{runner}:")
        if "incremental16_flow_seconds" in f:
            req = f["incremental16_requests"]
            per_series = req.get("total", 0) / 16
            lines.append(
                f"  incremental 16 series: flow {f['incremental16_flow_seconds']:.1f} s "
                f"(process {f['incremental16_process_seconds']:.1f} s, imports included) "
                f"[target < 15 s: {'met' if f['incremental16_flow_seconds'] < 15 else 'MISSED'}]"
                f"; {per_series:g} request(s) per series {dict(req)} "
                f"[target 1: {'met' if per_series == 1 else 'MISSED'}]; retrained: "
                f"{'yes' if f['incremental16_retrained'] else 'no'}"
            )
        if "warm16" in f:
            how = (
                "served (warm Dask workers, a fresh flow process)"
                if runner.startswith("dask")
                else "warm process (its second run)"
            )
            lines.append(
                f"  {how}, 16 series: flow {f['warm16']:.1f} s "
                f"[target < 5 s: {'met' if f['warm16'] < 5 else 'MISSED'}]"
            )
        if "incremental100" in f:
            i100 = f["incremental100"]
            lines.append(
                f"  incremental 100 series: process {i100['process_seconds']:.1f} s (flow "
                f"{i100['flow_seconds']:.1f} s) [target < 60 s: "
                f"{'met' if i100['process_seconds'] < 60 else 'MISSED'}]; "
                f"{i100['requests_per_series']:g} request(s) per series"
            )
        if "t16" not in f:
            continue
        lines.append(
            f"  16-series full run {f['t16']:.1f} s = {f['t16_over_16_t1']:.2f} x 16 x the "
            f"1-series run ({f['t1']:.1f} s)"
        )
        if "ideal" in f:
            lines.append(
                f"  vs the ideal 16 x {f['t1_one_core']:.1f} s (1 series, 1 core) / cores = "
                f"{f['ideal']:.1f} s: {f['t16_over_ideal']:.2f} x "
                f"[target <= 1.3: {'met' if f['t16_over_ideal'] <= 1.3 else 'MISSED'}]"
            )
        lines.append(
            f"  peak memory {f['peak_rss_gib']:.2f} GiB, RSS summed over the process tree "
            f"[target < 2: {'met' if f['peak_rss_gib'] < 2 else 'MISSED'}] "
            f"(PSS {f['peak_pss_gib']:.2f} GiB)"
        )
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("csv", nargs="?", default=str(DEFAULT_CSV), help="hourly candle CSV")
    parser.add_argument(
        "--series", "--sizes", default="1,4,16,64,100", help="series counts, e.g. 1,4,16"
    )
    parser.add_argument(
        "--skip-full-above",
        type=int,
        default=16,
        help="sizes above this skip the measured full run (the store is filled cheaply; the "
        "incremental and warm rows are still measured)",
    )
    parser.add_argument(
        "--scopes", default="series,global", help="model.scope rows: series and/or global"
    )
    parser.add_argument("--no-warm", action="store_true", help="skip the warm served-process row")
    parser.add_argument(
        "--baselines",
        default=",".join(BASELINES),
        help="baselines and statistical models (the protocol's; add ets,garch for the default "
        "configuration's: a cold ETS fit costs minutes per series and target on 2 shared cores)",
    )
    parser.add_argument("--runners", default="threads,dask", help="threads and/or dask")
    parser.add_argument("--repeats", type=int, default=3, help="incremental runs per size")
    parser.add_argument("--epochs", type=int, default=10, help="training budget per cell")
    parser.add_argument("--timeout", type=float, default=3600, help="seconds per run")
    parser.add_argument("--no-reference", action="store_true", help="skip the 1-core run")
    parser.add_argument("--out", default=str(DEFAULT_OUT))
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(json.loads(args.child))
        return 0

    csv = Path(args.csv)
    if not csv.is_file():
        print(f"bench/run: skipped, no candle CSV at {csv} (pass one: bench/run.py CSV)")
        return 0
    sizes = [int(s) for s in args.series.split(",") if s.strip()]
    runners = [r.strip() for r in args.runners.split(",") if r.strip()]
    if any(n < 1 or n > len(SYMBOLS) for n in sizes):
        parser.error(f"--series must be between 1 and {len(SYMBOLS)}")
    if args.repeats > HELD_BACK - 3:
        parser.error(f"--repeats must be at most {HELD_BACK - 3} (candles held back)")
    scopes = [x.strip() for x in args.scopes.split(",") if x.strip()]
    BASELINES[:] = [x.strip() for x in args.baselines.split(",") if x.strip()]

    from candlecast.core.config import available_cores

    cores = available_cores()
    print(
        f"bench/run: {csv.name}; series {sizes}; runners {runners}; {cores} core(s); "
        f"epochs {args.epochs}; {args.repeats} incremental run(s) per size (median); "
        f"load average {os.getloadavg()[0]:.1f}",
        flush=True,
    )
    started = time.perf_counter()
    results: dict[str, Any] = {"runs": {}}
    load = [os.getloadavg()[0]]
    with tempfile.TemporaryDirectory(prefix="candlecast-bench-run-") as folder:
        tmp = Path(folder)
        (tmp / "prefect-server").mkdir()
        with prefect_server(tmp / "prefect-server") as api_url:
            env = os.environ | {
                "PREFECT_API_URL": api_url,
                "PREFECT_HOME": str(tmp / "prefect-client"),
                "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
                "PREFECT_LOGGING_LEVEL": "WARNING",
                "CANDLECAST_MARKETS_CACHE": str(tmp / "markets"),
                "TF_CPP_MIN_LOG_LEVEL": "2",
                "PYTHONUNBUFFERED": "1",
            }
            if not args.no_reference and 16 in sizes:
                print("reference: 1 series, threads, pinned to one core", flush=True)
                results["reference"] = scenario(csv, 1, "threads", tmp, env, args, one_core=True)
            for runner in runners:
                for scope in scopes:
                    row = runner if scope == "series" else f"{runner}/{scope}"
                    print(f"{row}:", flush=True)
                    results["runs"][row] = [
                        scenario(
                            csv,
                            n,
                            runner,
                            tmp,
                            env,
                            args,
                            incremental=args.repeats,
                            warm=not args.no_warm,
                            scope=scope,
                        )
                        for n in sizes
                    ]
                    load.append(os.getloadavg()[0])
    lines, figures = summary_table(results, cores)
    print("\n" + "\n".join(lines))
    print("\ntargets (../shared/BENCHMARK.md, issue 8):")
    print("\n".join(targets(figures)) or "  (the targets need the 1- and 16-series runs)")

    payload = {
        "benchmark": "run",
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "seconds": time.perf_counter() - started,
        "protocol": {
            "csv": str(csv),
            "series": sizes,
            "runners": runners,
            "symbols": SYMBOLS[: max(sizes)],
            "held_back": HELD_BACK,
            "incremental_repeats": args.repeats,
            "settings": bench_config(["..."], "<sandbox>", Path("<tmp>"), "<runner>", args.epochs),
            "full_runs": "once each; fresh process, empty store, mode train",
            "incremental_runs": "fresh process each, one new candle, mode forecast; medians",
        },
        "machine": {
            "python": platform.python_version(),
            "platform": platform.platform(),
            "cores": cores,
            "load_average_1m": load,
        },
        "results": results,
        "figures": figures,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(payload, indent=2, default=str), encoding="utf-8")
    print(f"\nwrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
