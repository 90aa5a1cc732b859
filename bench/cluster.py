"""bench/cluster: the scheduled flow on a multi-host Dask cluster, a full run then incremental ones.

    sudo .venv/bin/python bench/cluster.py [--series 4] [--workers 2] [--epochs 5]
                                           [--incremental 1] [--threads]

The cluster is the test harness of tests/flows/test_cluster.py (tests/fixtures/cluster.py over
sandbox/cluster.py): a Dask scheduler and `--workers` workers, each a host of its own (network
namespace on a bridge of its own addresses, a private tmpfs over /tmp, its own HOME and
TMPDIR), sharing only the network: PostgreSQL (the machine's, 127.0.0.1:5432 relayed; a fresh
schema), an S3 server (moto, for models, outputs and reports) and the Prefect API (a temporary
server). The sandbox exchange serves `--series` generated hourly series (30 days). Needs root
and PostgreSQL; without them it says so and exits without running.

Rows as bench/run.py prints them: status, seconds of the flow, peak memory of this process and
every cluster host (RSS summed, PSS beside it), models trained, exchange requests; then the wall
span of each stage (from the Prefect API). `--threads` adds the same runs with threads on this
machine (SQLite, local folders) for comparison. All hosts share this machine's cores: the figures
show the cost of the cluster's machinery, not a speed-up.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "bench")]

BASES = ("BTC", "ETH", "BNB", "SOL", "XRP", "ADA", "DOGE", "TRX", "DOT", "LTC", "LINK", "AVAX")
HELD_BACK = 4


def symbols(n: int) -> list[str]:
    return [f"{BASES[i % len(BASES)]}{'' if i < len(BASES) else i}/USDT" for i in range(n)]


def flow_config(args: argparse.Namespace, url: str, storage: dict, orchestration: dict) -> dict:
    cells = [{"name": n, "units": 16} for n in ("gru", "lstm", "simple", "bidirectional")]
    return {
        "source": {
            "exchange": "binance",
            "url": url,
            "symbols": symbols(args.series),
            "history_days": 30,
        },
        "model": {"window": 24, "horizon": 12, "targets": ["close"], "cells": cells},
        "training": {"epochs": args.epochs, "patience": 3},
        "backtest": {"origins_per_fold": 24, "step": 3},
        "publish": {"publishers": ["files"], "formats": ["csv", "parquet"]},
        "storage": storage,
        "orchestration": {"tf_threads": 1} | orchestration,
    }


def one_run(config_data: dict, mode: str, store_url: str) -> dict[str, Any]:
    """Run the flow once in this process; the figures bench/run.py reports."""
    import sqlalchemy as sa
    from run import PeakRss, stage_spans

    from candlecast.core.config import build_config
    from candlecast.core.storage.registry import models
    from candlecast.flows.forecast import forecast_flow
    from candlecast.flows.runner import build_task_runner
    from candlecast.flows.runtime import open_store

    config = build_config(config_data)
    engine = open_store(store_url).engine

    def trained() -> int:
        with engine.connect() as conn:
            return conn.execute(sa.select(sa.func.count()).select_from(models)).scalar()

    before = trained()
    memory = PeakRss(os.getpid())  # this process and its descendants: every cluster host
    started = time.perf_counter()
    state = forecast_flow.with_options(task_runner=build_task_runner(config))(
        config=config, mode=mode, return_state=True
    )
    seconds = time.perf_counter() - started
    peak, peak_pss = memory.close()
    summary = state.result(raise_on_failure=False)
    ok = isinstance(summary, dict)
    return {
        "status": summary.get("status") if ok else str(state.type),
        "errors": {
            k: v["error"] or v.get("model_failures")
            for k, v in (summary.get("series", {}) if ok else {}).items()
            if v["error"] or v.get("model_failures")
        },
        "flow_seconds": seconds,
        "peak_rss_bytes": peak,
        "peak_pss_bytes": peak_pss,
        "models_trained": trained() - before,
        "stages": stage_spans(state.state_details.flow_run_id),
    }


def row(label: str, kind: str, run: dict[str, Any], requests: dict[str, int]) -> None:
    stages = "  ".join(f"{k} {v['span']:.1f}" for k, v in run["stages"].items())
    asked = " ".join(f"{k}={v}" for k, v in requests.items())
    print(
        f"  {label:<16} {kind:<11} {run['status']:<7} flow {run['flow_seconds']:7.1f} s  "
        f"peak {run['peak_rss_bytes'] / 2**30:5.2f} GiB (PSS {run['peak_pss_bytes'] / 2**30:4.2f})"
        f"  trained {run['models_trained']:>3}  requests {asked}",
        flush=True,
    )
    print(f"  {'':<16} stages (wall s): {stages}", flush=True)
    if run.get("errors"):
        print(f"  {'':<16} problems: {run['errors']}", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--series", type=int, default=4)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--incremental", type=int, default=1)
    parser.add_argument("--threads", action="store_true", help="also run with threads here")
    args = parser.parse_args(argv)
    # a SIGTERM (timeout, CI) unwinds like Ctrl-C: the namespaces and processes are removed
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    from tests.conftest import PG_URL, _postgres_reason
    from tests.fixtures.cluster import cluster_rig, cluster_unavailable

    why = cluster_unavailable() or _postgres_reason()
    if why:
        print(f"bench/cluster: skipped, {why}")
        return 0

    import pandas as pd
    from prefect.settings import get_current_settings
    from prefect.testing.utilities import prefect_test_harness

    from candlecast.sandbox import SandboxExchange
    from candlecast.sandbox.generated import generate_candles

    end = pd.Timestamp.now(tz="UTC").floor("h")
    series = {
        s: generate_candles(24 * 31, end=end, seed=i) for i, s in enumerate(symbols(args.series))
    }
    label = f"{args.series} series"
    print(
        f"bench/cluster: {args.series} series, scheduler + {args.workers} worker hosts "
        f"(netns), PostgreSQL, S3 (moto), {os.cpu_count()} cores shared by all",
        flush=True,
    )
    with (
        tempfile.TemporaryDirectory(prefix="bench-cluster-") as tmp,
        prefect_test_harness(server_startup_timeout=120),
        SandboxExchange(series, timeframe="1h", hold_back=HELD_BACK) as exchange,
        cluster_rig(
            logs=Path(tmp) / "logs",
            prefect_api=str(get_current_settings().api.url),
            postgres=PG_URL,
            exchange_url=exchange.url,
            workers=args.workers,
        ) as rig,
        rig.schema() as db,
        rig.api(),
    ):
        bucket = rig.bucket()
        plans = [
            (
                f"dask {args.workers}h",
                flow_config(
                    args,
                    rig.exchange_url,
                    rig.storage(bucket, db, Path(tmp) / "cluster"),
                    rig.orchestration(),
                ),
                db,
            )
        ]
        if args.threads:
            home = Path(tmp) / "threads"
            plans.append(
                ("threads", flow_config(args, exchange.url, {"data_home": str(home)}, {}), None)
            )
        runs: dict[str, list[tuple[str, dict]]] = {name: [] for name, _, _ in plans}
        for kind, modes in (("full", ["train"]), ("incremental", ["forecast"] * args.incremental)):
            for mode in modes:
                if kind == "incremental":
                    exchange.release(1)
                for name, data, url in plans:
                    before = dict(exchange.requests)
                    store = url or f"sqlite:///{Path(data['storage']['data_home'])}/candlecast.db"
                    run = one_run(data, mode, store)
                    after = exchange.requests
                    asked = {
                        k.rsplit("/", 1)[-1]: after[k] - before.get(k, 0)
                        for k in after
                        if after[k] != before.get(k, 0)
                    }
                    row(f"{label} {name}", kind, run, asked)
                    runs[name].append((kind, run))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
