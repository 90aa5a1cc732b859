"""The sandbox exchange's request handler: Binance's public spot endpoints, the control
endpoints, and the fault injection in front of them (see `server.py` for the server).

Endpoints (what real ccxt's binance client calls for markets and candles):
  GET /api/v3/ping, /api/v3/time, /api/v3/exchangeInfo, /api/v3/klines
Control endpoints (for a sandbox started from the command line):
  GET  /sandbox/status                  clock, symbols, request counts, faults fired and pending
  POST /sandbox/release?n=N             N more candles close
  POST /sandbox/faults?spec=KIND:OPTS   arm a fault (same syntax as --fault)

Every answer carries a `Date` header from the sandbox clock, like a real exchange's server time,
or `date_skew_s` away from it (a proxy, a cache or a front server with its own clock).
"""

from __future__ import annotations

import contextlib
import email.utils
import json
import socket
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit

from candlecast.core.errors import CandlecastError
from candlecast.sandbox import binance
from candlecast.sandbox.faults import Fault, FaultInjector
from candlecast.sandbox.market import DEFAULT_LIMIT, MAX_LIMIT, Kline, SandboxMarket

API = "/api/v3/"
ENDPOINT_PATHS = {f"{API}{name}": name for name in ("ping", "time", "exchangeInfo", "klines")}


@dataclass
class ServerState:
    market: SandboxMarket
    faults: FaultInjector
    stop: threading.Event = field(default_factory=threading.Event)
    requests: dict[str, int] = field(default_factory=dict)
    log: Callable[[str], None] | None = None
    date_skew_s: float = 0.0  # the `Date` header runs this far from the candle clock

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


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "candlecast-sandbox"
    sys_version = ""
    state: ServerState  # set on the subclass made per server

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
        seconds = self.state.market.now_ms() / 1000 + self.state.date_skew_s
        return email.utils.formatdate(seconds, usegmt=True)

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


def status(state: ServerState) -> dict[str, Any]:
    with state.lock:
        requests = dict(state.requests)
    return {
        "clock": state.market.clock.isoformat(),
        "date_skew_s": state.date_skew_s,
        "timeframe": state.market.timeframe,
        "symbols": state.market.symbols,
        "requests": requests,
        "faults_fired": dict(state.faults.fired),
        "faults_pending": state.faults.pending(),
    }
