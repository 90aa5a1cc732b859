"""The sandbox exchange's HTTP server on a thread (`SandboxExchange`) or in the foreground
(`serve`, for `candlecast sandbox-exchange`): loopback only. Requests are answered by
`handler.py`."""

from __future__ import annotations

import ipaddress
import socket
import threading
from collections.abc import Callable, Mapping, Sequence
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from candlecast.core.errors import ConfigError, DataError
from candlecast.core.market.csv_file import read_candle_csv
from candlecast.core.market.timeframes import timeframe_seconds
from candlecast.sandbox import binance
from candlecast.sandbox.faults import Fault, FaultInjector
from candlecast.sandbox.generated import generate_candles
from candlecast.sandbox.handler import Handler, ServerState
from candlecast.sandbox.market import SandboxMarket

DEFAULT_PORT = 8765


def loopback_host(host: str) -> str:
    """`host` if it is a loopback address (`localhost` -> 127.0.0.1), else ConfigError."""
    if host == "localhost":
        return "127.0.0.1"
    try:
        if ipaddress.ip_address(host).is_loopback:
            return host
    except ValueError:
        pass
    raise ConfigError(
        f"the sandbox exchange binds to loopback only (127.0.0.1, ::1 or localhost), got host "
        f"{host!r}; it serves test data and must not be reachable from other machines"
    )


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True


class _Server6(_Server):
    address_family = socket.AF_INET6


def infer_timeframe(frame: pd.DataFrame) -> str:
    """The Binance interval that the frame's typical candle spacing matches."""
    if len(frame) < 2:
        raise DataError("need at least 2 candles to tell their timeframe; pass timeframe=")
    spacing = int(np.median(np.diff(pd.DatetimeIndex(frame.index).as_unit("s").asi8)))
    for name in binance.INTERVALS:
        try:
            if timeframe_seconds(name) == spacing:
                return name
        except ConfigError:
            continue
    raise DataError(
        f"candles are typically {spacing} s apart, which is no Binance interval "
        f"({', '.join(binance.INTERVALS)})"
    )


class SandboxExchange:
    """A loopback Binance look-alike on a thread: `with SandboxExchange(...) as ex: ex.url`.

    `series`: `{"BTC/USDT": candle frame}` or one frame (served as `symbols[0]`); or `csv` (a
    candle CSV served for every symbol in `symbols`); or neither (a generated series per symbol).
    """

    def __init__(
        self,
        series: Mapping[str, pd.DataFrame] | pd.DataFrame | None = None,
        *,
        csv: str | Path | None = None,
        symbols: Sequence[str] = ("BTC/USDT",),
        timeframe: str | None = None,
        hold_back: int = 0,
        clock: pd.Timestamp | None = None,
        replay_speed: float | None = None,
        faults: Sequence[Fault | str] = (),
        seed: int = 0,
        host: str = "127.0.0.1",
        port: int = 0,
        log: Callable[[str], None] | None = None,
        date_skew_s: float = 0.0,
    ) -> None:
        if series is not None and csv is not None:
            raise ConfigError("give the sandbox candles as series= or csv=, not both")
        if not symbols:
            raise ConfigError("symbols must name at least one symbol, e.g. ('BTC/USDT',)")
        if csv is not None:
            frame = read_candle_csv(csv)
            data = {symbol: frame for symbol in symbols}
        elif isinstance(series, pd.DataFrame):
            data = {symbols[0]: series}
        elif series is not None:
            data = dict(series)
        else:
            tf = timeframe or "1h"
            data = {s: generate_candles(timeframe=tf, seed=seed + i) for i, s in enumerate(symbols)}
        timeframe = timeframe or infer_timeframe(next(iter(data.values())))
        self.market = SandboxMarket(
            data, timeframe, clock=clock, hold_back=hold_back, replay_speed=replay_speed
        )
        self.faults = FaultInjector(seed=seed)
        for fault in faults:
            self.faults.add(fault)
        self.host = loopback_host(host)
        if not isinstance(port, int) or not 0 <= port <= 65535:
            raise ConfigError(f"port must be an integer 0..65535 (0 = any free port), got {port!r}")
        self._port = port
        self._state = ServerState(self.market, self.faults, log=log)
        self.date_skew_s = date_skew_s
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- life cycle ----------------------------------------------------------------------------
    def _bind(self) -> _Server:
        handler = type("SandboxHandler", (Handler,), {"state": self._state})
        server_class = _Server6 if ":" in self.host else _Server
        try:
            return server_class((self.host, self._port), handler)
        except OSError as exc:
            raise ConfigError(
                f"cannot listen on {self.host}:{self._port}: {exc.strerror or exc}"
            ) from exc

    def start(self) -> SandboxExchange:
        if self._server is not None:
            return self
        self._state.stop.clear()
        self._server = self._bind()
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            daemon=True,
            name="sandbox-exchange",
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._state.stop.set()
        server, self._server = self._server, None
        if server is not None:
            if self._thread is not None:
                server.shutdown()
            server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> SandboxExchange:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- what tests and benchmarks use ---------------------------------------------------------
    @property
    def port(self) -> int:
        if self._server is None:
            raise ConfigError("the sandbox exchange is not running; use it as a context manager")
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        """Base URL to hand to `make_exchange(..., url=...)`: `http://127.0.0.1:PORT`."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def requests(self) -> dict[str, int]:
        """Requests per endpoint path so far (`{"/api/v3/klines": 12, ...}`), faulted ones too."""
        with self._state.lock:
            return dict(self._state.requests)

    @property
    def total_requests(self) -> int:
        return sum(self.requests.values())

    @property
    def fired(self) -> dict[str, int]:
        """Faults fired so far, per kind."""
        return dict(self.faults.fired)

    @property
    def clock(self) -> pd.Timestamp:
        return self.market.clock

    def release(self, n: int = 1) -> pd.Timestamp:
        """Let `n` more candles close (the clock moves `n` timeframes on)."""
        return self.market.release(n)

    @property
    def date_skew_s(self) -> float:
        """Seconds between the `Date` header of every answer and the candle clock."""
        return self._state.date_skew_s

    @date_skew_s.setter
    def date_skew_s(self, seconds: float) -> None:
        if isinstance(seconds, bool) or not isinstance(seconds, int | float):
            raise ConfigError(f"date_skew_s must be a number of seconds, got {seconds!r}")
        self._state.date_skew_s = float(seconds)

    def correct(self, open_time: pd.Timestamp, symbol: str | None = None, **values: float) -> None:
        """Revise a candle already served: `correct(t, close=42_000.0, high=42_100.0)`."""
        self.market.correct(symbol or self.market.symbols[0], open_time, **values)

    def inject(
        self,
        fault: Fault | str,
        *,
        times: int | None = None,
        probability: float | None = None,
        **options: Any,
    ) -> Fault:
        """Arm a fault now: `inject("rate_limit", times=2, retry_after=3)` or a Fault."""
        if isinstance(fault, str):
            if ":" in fault:
                if times is not None or probability is not None or options:
                    raise ConfigError(f"fault {fault!r} already carries its options; pass no more")
                return self.faults.add(fault)
            fault = Fault(fault, times=times, probability=probability, **options)
        return self.faults.add(fault)

    def clear_faults(self) -> None:
        self.faults.clear()

    def candles(self, symbol: str | None = None) -> pd.DataFrame:
        """The closed candles the sandbox serves for `symbol` at its current clock."""
        return self.market.closed_candles(symbol or self.market.symbols[0])


def serve(
    csv: str | Path | None = None,
    *,
    port: int = DEFAULT_PORT,
    host: str = "127.0.0.1",
    replay_speed: float | None = None,
    faults: Sequence[Fault | str] = (),
    symbols: Sequence[str] = ("BTC/USDT",),
    timeframe: str | None = None,
    hold_back: int = 0,
    seed: int = 0,
    log: Callable[[str], None] = print,
    date_skew_s: float = 0.0,
) -> None:
    """Run a sandbox exchange in the foreground until Ctrl-C (`candlecast sandbox-exchange`)."""
    sandbox = SandboxExchange(
        csv=csv,
        symbols=symbols,
        timeframe=timeframe,
        hold_back=hold_back,
        replay_speed=replay_speed,
        faults=faults,
        seed=seed,
        host=host,
        port=port,
        log=log,
        date_skew_s=date_skew_s,
    )
    sandbox._server = sandbox._bind()
    server = sandbox._server
    log(
        f"sandbox exchange (Binance spot API) on {sandbox.url} serving {', '.join(sandbox.market.symbols)} "
        f"{sandbox.market.timeframe} candles; clock {sandbox.clock.isoformat()}"
        + (f", replay x{replay_speed}" if replay_speed else "")
        + (f", Date header {date_skew_s:+g} s off the clock" if date_skew_s else "")
        + (f"; faults: {'; '.join(sandbox.faults.pending())}" if faults else "")
    )
    log(f"point ccxt at it: make_exchange('binance', url='{sandbox.url}'); Ctrl-C stops")
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        log("sandbox exchange stopped")
    finally:
        sandbox._state.stop.set()
        server.server_close()
        sandbox._server = None
