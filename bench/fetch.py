"""bench/fetch: backfill and incremental fetch of a year of hourly candles through real ccxt.

    .venv/bin/python bench/fetch.py [CSV] [--repeats 3] [--out bench/results/fetch.json]

CSV defaults to ../shared/data/BTCUSDT_binance-spot_1h.csv (relative to the repository); when it
is absent the benchmark says so and exits without running. The data is read where it lies,
never copied into the repository; the SQLite databases live in a temporary folder.

Each repeat starts a fresh sandbox exchange on 127.0.0.1 serving the whole CSV, with the newest
24 candles not yet happened, and a fresh SQLite store. Then, through `sync_series` and ccxt's
binance client:
  backfill     the first run: 365 days of history (the exchange's page size, 1000 candles)
  incremental  after the sandbox releases 24 candles: the next run fetches just those
  nothing-new  a run with no new candle (one request)
once with ccxt's rate limiter on (as in production: Binance's request weights at 50 ms per unit)
and once with it off (the cost of the fetch itself). Figures are medians over the repeats.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import ccxt
import pandas as pd
import sqlalchemy as sa

from candlecast.core.market.candles import SeriesKey
from candlecast.core.market.csv_file import read_candle_csv
from candlecast.core.storage.candle_store import CandleStore
from candlecast.plugins.sources.ccxt.exchange import make_exchange
from candlecast.plugins.sources.ccxt.sync import sync_series
from candlecast.sandbox import SandboxExchange

REPO = Path(__file__).resolve().parents[1]
DEFAULT_CSV = REPO.parent / "shared" / "data" / "BTCUSDT_binance-spot_1h.csv"
DEFAULT_OUT = REPO / "bench" / "results" / "fetch.json"
HISTORY = pd.Timedelta(days=365)
RELEASED = 24
KEY = SeriesKey("binance", "BTC/USDT", "1h")


def one_repeat(
    candles: pd.DataFrame, workdir: Path, *, rate_limit: bool, index: int
) -> dict[str, Any]:
    """Backfill, release, incremental, nothing-new; figures per run and a correctness check."""
    engine = sa.create_engine(f"sqlite:///{workdir / f'candles-{rate_limit}-{index}.db'}")
    store = CandleStore(engine)
    store.create()
    runs: dict[str, Any] = {}
    with SandboxExchange({KEY.symbol: candles}, timeframe="1h", hold_back=RELEASED) as sandbox:
        exchange = make_exchange(
            "binance", url=sandbox.url, timeout_ms=10_000, rate_limit=rate_limit
        )
        for name in ("backfill", "incremental", "nothing-new"):
            if name == "incremental":
                sandbox.release(RELEASED)
            http_before = sandbox.total_requests
            started = time.perf_counter()
            report = sync_series(exchange, store, KEY, history=HISTORY)
            seconds = time.perf_counter() - started
            runs[name] = {
                "requests": report.requests,
                "http_requests": sandbox.total_requests - http_before,  # + ccxt's market load
                "pages": report.pages,
                "candles": report.new_candles,
                "gap_rechecks": report.gap_rechecks,
                "seconds": seconds,
                "candles_per_second": report.new_candles / seconds if seconds > 0 else 0.0,
            }
        # the store holds exactly the sandbox's closed candles of the last year, each once
        served = sandbox.candles(KEY.symbol)
        backfill_clock = sandbox.clock - pd.Timedelta(hours=RELEASED)
        expected = served[served.index >= (backfill_clock - HISTORY).floor("1h")]
        stored = store.load(KEY)
        runs["check"] = {
            "stored": len(stored),
            "expected": len(expected),
            "identical": bool(stored.equals(expected)),
            "first": stored.index[0].isoformat() if len(stored) else None,
            "last": stored.index[-1].isoformat() if len(stored) else None,
        }
    engine.dispose()
    return runs


def median_runs(repeats: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    for name in ("backfill", "incremental", "nothing-new"):
        out[name] = {
            field: statistics.median(r[name][field] for r in repeats)
            for field in (
                "requests",
                "http_requests",
                "pages",
                "gap_rechecks",
                "candles",
                "seconds",
                "candles_per_second",
            )
        }
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("csv", nargs="?", default=str(DEFAULT_CSV), help="hourly candle CSV")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", default=str(DEFAULT_OUT))
    args = parser.parse_args(argv)

    csv = Path(args.csv)
    if not csv.is_file():
        print(f"bench/fetch: skipped, no candle CSV at {csv} (pass one: bench/fetch.py CSV)")
        return 0
    candles = read_candle_csv(csv)
    print(
        f"bench/fetch: {csv.name}: {len(candles)} candles {candles.index[0]} .. {candles.index[-1]}; "
        f"sandbox holds back the newest {RELEASED}; backfill {HISTORY.days} days; "
        f"{args.repeats} repeat(s), median shown"
    )

    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="candlecast-bench-fetch-") as tmp:
        for rate_limit in (True, False):
            label = "rate limiter on" if rate_limit else "rate limiter off"
            repeats = [
                one_repeat(candles, Path(tmp), rate_limit=rate_limit, index=i)
                for i in range(args.repeats)
            ]
            medians = median_runs(repeats)
            results[label] = {"repeats": repeats, "median": medians}
            checks = [r["check"] for r in repeats]
            print(f"\n{label} (ccxt enableRateLimit={rate_limit})")
            print(
                f"  {'run':<12} {'requests':>8} {'pages':>5} {'re-asks':>7} {'http':>5} "
                f"{'candles':>8} {'seconds':>8} {'candles/s':>10}"
            )
            for name, m in medians.items():
                print(
                    f"  {name:<12} {m['requests']:>8.0f} {m['pages']:>5.0f} {m['gap_rechecks']:>7.0f} "
                    f"{m['http_requests']:>5.0f} {m['candles']:>8.0f} "
                    f"{m['seconds']:>8.3f} {m['candles_per_second']:>10.0f}"
                )
            ok = all(c["identical"] for c in checks)
            print(
                f"  store check: {checks[0]['stored']} candles {checks[0]['first']} .. {checks[0]['last']}, "
                f"identical to the sandbox's last year in every repeat: {ok}"
            )
            if not ok:
                print(f"  MISMATCH: {checks}", file=sys.stderr)

    payload = {
        "benchmark": "fetch",
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "csv": str(csv),
        "csv_candles": len(candles),
        "history_days": HISTORY.days,
        "released": RELEASED,
        "repeats": args.repeats,
        "machine": {
            "python": platform.python_version(),
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
        },
        "versions": {
            "ccxt": ccxt.__version__,
            "pandas": pd.__version__,
            "sqlalchemy": sa.__version__,
        },
        "notes": (
            "requests: made by sync_series (fetch_time + fetch_ohlcv pages + re-asks); a page "
            "with a gap is asked for once more (the CSV has 7 real gaps in the year fetched); "
            "http: every sandbox hit, ccxt's market load included"
        ),
        "results": results,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(payload, indent=2, default=str))
    print(f"\nwrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
