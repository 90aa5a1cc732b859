"""`candlecast sandbox-exchange`: a loopback exchange (Binance's public spot API) that serves a
candle CSV or a generated series to real ccxt, optionally releasing candles as time passes and
injecting faults. Point a run at it with `--exchange-url`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from candlecast.cli.app import console


def sandbox_exchange(
    csv: Annotated[
        Path | None,
        typer.Option("--csv", help="Candle CSV to serve (default: a generated series)."),
    ] = None,
    port: Annotated[int, typer.Option(help="Port on 127.0.0.1.")] = 8765,
    host: Annotated[
        str, typer.Option(help="Loopback address only (127.x.x.x or ::1).")
    ] = "127.0.0.1",
    symbols: Annotated[str, typer.Option(help="Comma-separated symbols to serve.")] = "BTC/USDT",
    timeframe: Annotated[str | None, typer.Option(help="Timeframe (default: the CSV's).")] = None,
    hold_back: Annotated[
        int, typer.Option(help="Newest candles withheld at start (released by --replay-speed).")
    ] = 0,
    replay_speed: Annotated[
        float | None,
        typer.Option(help="Release held-back candles this many times faster than real time."),
    ] = None,
    fault: Annotated[
        list[str] | None,
        typer.Option(
            help="Inject a fault, e.g. rate_limit:times=3,retry_after=2 or server_error:p=0.1 "
            "(repeatable; kinds: see candlecast.sandbox.FAULT_KINDS)."
        ),
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed for probabilistic faults.")] = 0,
    date_skew: Annotated[
        float,
        typer.Option(
            help="Seconds the HTTP Date header runs ahead of (or, negative, behind) the candle "
            "clock, as behind a proxy or cache."
        ),
    ] = 0.0,
) -> None:
    """Serve candles on loopback through the endpoints real ccxt uses for Binance."""
    from candlecast.sandbox import serve

    serve(
        csv=csv,
        port=port,
        host=host,
        replay_speed=replay_speed,
        faults=list(fault or []),
        symbols=[s.strip() for s in symbols.split(",") if s.strip()],
        timeframe=timeframe,
        hold_back=hold_back,
        seed=seed,
        log=console.print,
        date_skew_s=date_skew,
    )
