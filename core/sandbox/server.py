"""The sandbox exchange's HTTP server: Binance spot public endpoints on loopback, with faults.

Endpoints (what real ccxt's binance client calls for markets and candles):
  GET /api/v3/ping, /api/v3/time, /api/v3/exchangeInfo, /api/v3/klines
Control endpoints (for a sandbox started from the command line):
  GET  /sandbox/status                  clock, symbols, request counts, faults fired and pending
  POST /sandbox/release?n=N             N more candles close
  POST /sandbox/faults?spec=KIND:OPTS   arm a fault (same syntax as --fault)

Every answer carries a `Date` header from the sandbox clock, like a real exchange's server time.
"""

from __future__ import annotations

import contextlib
import email.utils
import ipaddress
import json
import socket
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import numpy as np
import pandas as pd

from candlecast.core.csv_candles import read_candle_csv
from candlecast.core.errors import CandlecastError, ConfigError, DataError
from candlecast.core.sandbox import binance
from candlecast.core.sandbox.faults import Fault, FaultInjector
from candlecast.core.sandbox.generated import generate_candles
from candlecast.core.sandbox.market import DEFAULT_LIMIT, MAX_LIMIT, Kline, SandboxMarket
from candlecast.core.timeframes import timeframe_seconds

API = "/api/v3/"
ENDPOINT_PATHS = {f"{API}{name}": name for name in ("ping", "time", "exchangeInfo", "klines")}
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


@dataclass
class _State:
    market: SandboxMarket
    faults: FaultInjector
    stop: threading.Event = field(default_factory=threading.Event)
    requests: dict[str, int] = field(default_factory=dict)
    log: Callable[[str], None] | None = None

    def __post_init__(self) -> None:
        self.lock = threading.Lock()

    def count(self, path: str) -> None:
        with self.lock:
            self.requests[path] = self.requests.get(path, 0) + 1


class _Answer(Exception):
    """An error answer: HTTP status and Binance error body."""

    def __init__(self, status: int, code: int, msg: str) -> None:
        super().__init__(msg)
        self.status, self.body = status, binance.error(code, msg)


def _int_param(query: dict[str, list[str]], name: str) -> int | None:
    values = query.get(name)
    if not values or values[-1] == "":
        return None
    text = values[-1]
    if not text.lstrip("-").isdigit():
        raise _Answer(
            400,
            -1100,
            f"Illegal characters found in parameter '{name}'; legal range is '^[0-9]{{1,20}}$'.",
        )
    return int(text)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "candlecast-sandbox"
    sys_version = ""
    state: _State  # set on the subclass made per server

    # -- plumbing ------------------------------------------------------------------------------
    def setup(self) -> None:
        super().setup()
        # headers and body go out as separate writes: without this, Nagle's algorithm and the
        # client's delayed ACK hold every keep-alive answer back ~40 ms
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:
        if self.state.log is not None:
            self.state.log(f"{self.address_string()} {format % args}")

    def date_time_string(self, timestamp: float | None = None) -> str:
        return email.utils.formatdate(self.state.market.now_ms() / 1000, usegmt=True)

    def _send(
        self,
        status: int,
        body: Any,
        headers: Mapping[str, str] | None = None,
        cut: str | None = None,
    ) -> None:
        """Send JSON; `cut="truncated"`: half the body under the full Content-Length, then close;
        `cut="malformed"`: half the body under a Content-Length that matches it."""
        data = json.dumps(body, separators=(",", ":")).encode()
        sent = data[: len(data) // 2] if cut else data
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json;charset=UTF-8")
            self.send_header("Content-Length", str(len(sent if cut == "malformed" else data)))
            self.send_header("x-mbx-used-weight-1m", "1")
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            if cut == "truncated":
                self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(sent)
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (for example on a slow answer); nothing to do
        if cut == "truncated":
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)

    # -- routes --------------------------------------------------------------------------------
    def do_GET(self) -> None:
        self._route("GET")

    def do_POST(self) -> None:
        self._route("POST")

    def _route(self, method: str) -> None:
        url = urlsplit(self.path)
        query = parse_qs(url.query, keep_blank_values=True)
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        if url.path.startswith("/sandbox/"):
            self._control(method, url.path, query)
            return
        self.state.count(url.path)
        endpoint = ENDPOINT_PATHS.get(url.path)
        try:
            if endpoint is None or method != "GET":
                raise _Answer(
                    404,
                    -1020,
                    f"This operation is not supported: the sandbox does not serve {method} {url.path}.",
                )
            body, rows = self._endpoint(endpoint, query)
        except _Answer as answer:
            self._send(answer.status, answer.body)
            return
        fault = self.state.faults.pick(endpoint, None if rows is None else len(rows))
        self._answer(body, rows, fault)

    def _endpoint(
        self, endpoint: str, query: dict[str, list[str]]
    ) -> tuple[Any, list[Kline] | None]:
        market = self.state.market
        if endpoint == "ping":
            return {}, None
        if endpoint == "time":
            return {"serverTime": market.now_ms()}, None
        if endpoint == "exchangeInfo":
            wanted = query.get("symbol")
            if "symbols" in query:
                try:
                    wanted = [str(s) for s in json.loads(query["symbols"][-1])]
                except (ValueError, TypeError):
                    raise _Answer(
                        400, -1100, "Illegal characters found in parameter 'symbols'."
                    ) from None
            return binance.exchange_info(market, wanted), None
        symbol = (query.get("symbol") or [""])[-1]
        if not symbol:
            raise _Answer(
                400,
                -1102,
                "Mandatory parameter 'symbol' was not sent, was empty/null, or malformed.",
            )
        if not market.has_market(symbol):
            raise _Answer(400, -1121, "Invalid symbol.")
        interval = (query.get("interval") or [""])[-1]
        if interval not in binance.INTERVALS:
            raise _Answer(400, -1120, "Invalid interval.")
        if interval != market.timeframe:
            raise _Answer(
                400, -1120, f"Invalid interval. The sandbox serves {market.timeframe} candles only."
            )
        limit = _int_param(query, "limit")
        limit = DEFAULT_LIMIT if limit is None else limit
        if limit < 1:
            raise _Answer(400, -1130, "Data sent for parameter 'limit' is not valid.")
        limit = min(limit, MAX_LIMIT)
        rows = market.klines(
            symbol,
            start_ms=_int_param(query, "startTime"),
            end_ms=_int_param(query, "endTime"),
            limit=limit,
        )
        return {"limit": limit}, rows

    def _answer(self, body: Any, rows: list[Kline] | None, fault: Fault | None) -> None:
        tf_ms = self.state.market.tf_ms
        if fault is not None and fault.kind == "rate_limit":
            self._send(
                429,
                binance.error(
                    -1003,
                    "Too much request weight used; current limit is 6000 request weight per 1 MINUTE. "
                    "Please use WebSocket Streams for live updates to avoid polling the API.",
                ),
                {"Retry-After": str(fault.retry_after)},
            )
            return
        if fault is not None and fault.kind == "server_error":
            self._send(
                fault.status,
                binance.error(
                    -1001, "Internal error; unable to process your request. Please try again."
                ),
            )
            return
        if fault is not None and fault.kind == "slow" and self.state.stop.wait(fault.delay):
            return  # shutting down
        if rows is not None:
            rows = list(rows)
            if fault is not None and fault.kind in ("duplicate", "missing"):
                middle = len(rows) // 2
                if fault.kind == "duplicate":
                    rows.insert(middle + 1, rows[middle])
                    if len(rows) > body["limit"]:
                        rows.pop()
                else:
                    del rows[middle]
            body = [binance.kline_row(k, tf_ms) for k in rows]
        cut = fault.kind if fault is not None and fault.kind in ("truncated", "malformed") else None
        self._send(200, body, cut=cut)

    def _control(self, method: str, path: str, query: dict[str, list[str]]) -> None:
        state = self.state
        try:
            if path == "/sandbox/status" and method == "GET":
                self._send(200, status(state))
            elif path == "/sandbox/release" and method == "POST":
                n = _int_param(query, "n")
                state.market.release(1 if n is None else n)
                self._send(200, status(state))
            elif path == "/sandbox/faults" and method == "POST":
                for spec in query.get("spec", []):
                    state.faults.add(spec)
                self._send(200, status(state))
            else:
                self._send(404, binance.error(-1020, f"no sandbox control {method} {path}"))
        except _Answer as answer:
            self._send(answer.status, answer.body)
        except CandlecastError as exc:
            self._send(400, binance.error(-1130, str(exc)))


def status(state: _State) -> dict[str, Any]:
    with state.lock:
        requests = dict(state.requests)
    return {
        "clock": state.market.clock.isoformat(),
        "timeframe": state.market.timeframe,
        "symbols": state.market.symbols,
        "requests": requests,
        "faults_fired": dict(state.faults.fired),
        "faults_pending": state.faults.pending(),
    }


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
        self._state = _State(self.market, self.faults, log=log)
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- life cycle ----------------------------------------------------------------------------
    def _bind(self) -> _Server:
        handler = type("SandboxHandler", (_Handler,), {"state": self._state})
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
    )
    sandbox._server = sandbox._bind()
    server = sandbox._server
    log(
        f"sandbox exchange (Binance spot API) on {sandbox.url} serving {', '.join(sandbox.market.symbols)} "
        f"{sandbox.market.timeframe} candles; clock {sandbox.clock.isoformat()}"
        + (f", replay x{replay_speed}" if replay_speed else "")
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
