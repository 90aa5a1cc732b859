"""The sandbox exchange: Binance's klines contract, the clock, faults, loopback only."""

from __future__ import annotations

import email.utils
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from urllib.parse import urlsplit

import pandas as pd
import pytest

from candlecast.core.errors import ConfigError, DataError
from candlecast.plugins.sources.ccxt.exchange import make_exchange
from candlecast.sandbox import Fault, SandboxExchange, SandboxMarket, parse_fault
from tests.fixtures.sandbox import SANDBOX_CANDLES, SANDBOX_HELD_BACK, sandbox_series
from tests.fixtures.series import make_candles

HOUR_MS = 3_600_000
T0_MS = int(pd.Timestamp("2024-01-01", tz="UTC").value // 1_000_000)
CLOSED = SANDBOX_CANDLES - SANDBOX_HELD_BACK - 1  # 275 closed; candle 275 is open


def get(sandbox: SandboxExchange, path: str, timeout: float = 5.0) -> tuple[int, dict, object]:
    """(status, headers, parsed JSON body) of a GET, error statuses included."""
    try:
        with urllib.request.urlopen(sandbox.url + path, timeout=timeout) as answer:
            return answer.status, dict(answer.headers), json.loads(answer.read())
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), json.loads(err.read())


def klines(sandbox: SandboxExchange, query: str = "", symbol: str = "BTCUSDT"):
    status, _, body = get(sandbox, f"/api/v3/klines?symbol={symbol}&interval=1h{query}")
    assert status == 200, body
    return body


def test_klines_rows_have_binance_shape_and_exact_values(sandbox_exchange):
    rows = klines(sandbox_exchange, f"&startTime={T0_MS}&limit=3")
    series = sandbox_series()["BTC/USDT"]
    assert len(rows) == 3
    for i, row in enumerate(rows):
        assert len(row) == 12
        assert row[0] == T0_MS + i * HOUR_MS
        assert row[6] == row[0] + HOUR_MS - 1  # closeTime
        assert all(isinstance(v, str) for v in row[1:6])
        assert [float(v) for v in row[1:6]] == series.iloc[i, :5].tolist()


def test_start_end_and_limit_follow_binance(sandbox_exchange):
    # default limit 500 (all 276 existing candles fit), oldest first, the open candle last
    everything = klines(sandbox_exchange)
    assert len(everything) == CLOSED + 1
    assert [r[0] for r in everything] == [T0_MS + i * HOUR_MS for i in range(CLOSED + 1)]
    # startTime is inclusive and rounds up to the next open time
    assert (
        klines(sandbox_exchange, f"&startTime={T0_MS + 10 * HOUR_MS}&limit=2")[0][0]
        == T0_MS + 10 * HOUR_MS
    )
    assert (
        klines(sandbox_exchange, f"&startTime={T0_MS + 10 * HOUR_MS + 1}&limit=2")[0][0]
        == T0_MS + 11 * HOUR_MS
    )
    # endTime is inclusive; with both, the first `limit` from start
    rows = klines(sandbox_exchange, f"&startTime={T0_MS}&endTime={T0_MS + 4 * HOUR_MS}&limit=10")
    assert [r[0] for r in rows] == [T0_MS + i * HOUR_MS for i in range(5)]
    # no startTime: the newest `limit` up to endTime
    rows = klines(sandbox_exchange, f"&endTime={T0_MS + 50 * HOUR_MS}&limit=3")
    assert [r[0] for r in rows] == [T0_MS + h * HOUR_MS for h in (48, 49, 50)]
    # nothing after the open candle exists yet
    assert klines(sandbox_exchange, f"&startTime={T0_MS + (CLOSED + 1) * HOUR_MS}") == []


def test_limit_defaults_to_500_and_is_capped_at_1000():
    with SandboxExchange(make_candles(1500), timeframe="1h") as sandbox:
        assert len(klines(sandbox, f"&startTime={T0_MS}")) == 500
        assert len(klines(sandbox, f"&startTime={T0_MS}&limit=5000")) == 1000
        assert len(klines(sandbox, f"&startTime={T0_MS}&limit=1000")) == 1000


def test_the_open_candle_is_served_half_formed(sandbox_exchange):
    series = sandbox_series()["BTC/USDT"]
    row = klines(sandbox_exchange, "&limit=1")[0]
    assert row[0] == T0_MS + CLOSED * HOUR_MS
    full = series.iloc[CLOSED]
    o, h, low, c, v = (float(x) for x in row[1:6])
    assert o == full["open"]
    assert c == pytest.approx(full["open"] + (full["close"] - full["open"]) / 2)  # clock at :30
    assert v == pytest.approx(full["volume"] / 2)
    assert h >= max(o, c) and low <= min(o, c)
    pd.testing.assert_frame_equal(
        sandbox_exchange.candles(), series.iloc[:CLOSED], check_freq=False
    )


def test_release_lets_candles_close_and_time_and_date_follow_the_clock(sandbox_exchange):
    clock = sandbox_exchange.clock
    assert clock == pd.Timestamp("2024-01-01", tz="UTC") + pd.Timedelta(hours=CLOSED, minutes=30)
    status, headers, body = get(sandbox_exchange, "/api/v3/time")
    assert status == 200
    assert body == {"serverTime": int(clock.value // 1_000_000)}
    assert email.utils.parsedate_to_datetime(headers["Date"]) == clock.to_pydatetime()

    assert sandbox_exchange.release(5) == clock + pd.Timedelta(hours=5)
    assert len(sandbox_exchange.candles()) == CLOSED + 5
    assert len(sandbox_exchange.candles("ETH/USDT")) == CLOSED + 5
    assert len(klines(sandbox_exchange)) == CLOSED + 6
    with pytest.raises(ConfigError, match="positive integer"):
        sandbox_exchange.release(0)


def test_replay_speed_moves_the_clock_with_time():
    now = [100.0]
    market = SandboxMarket(
        {"BTC/USDT": make_candles(48)},
        "1h",
        hold_back=10,
        replay_speed=3600,
        monotonic=lambda: now[0],
    )
    assert len(market.closed_candles("BTC/USDT")) == 47 - 10
    now[0] += 3.0  # three sandbox hours
    assert len(market.closed_candles("BTC/USDT")) == 47 - 7
    market.release(2)
    assert len(market.closed_candles("BTC/USDT")) == 47 - 5


def test_requests_are_counted_per_endpoint(sandbox_exchange):
    get(sandbox_exchange, "/api/v3/ping")
    klines(sandbox_exchange)
    klines(sandbox_exchange, symbol="ETHUSDT")
    get(sandbox_exchange, "/api/v3/exchangeInfo")
    get(sandbox_exchange, "/api/v3/nothing")
    assert sandbox_exchange.requests == {
        "/api/v3/ping": 1,
        "/api/v3/klines": 2,
        "/api/v3/exchangeInfo": 1,
        "/api/v3/nothing": 1,
    }
    assert sandbox_exchange.total_requests == 5


@pytest.mark.parametrize(
    ("query", "status", "code"),
    [
        ("symbol=XRPUSDT&interval=1h", 400, -1121),
        ("interval=1h", 400, -1102),
        ("symbol=BTCUSDT&interval=7h", 400, -1120),
        ("symbol=BTCUSDT&interval=4h", 400, -1120),
        ("symbol=BTCUSDT&interval=1h&limit=0", 400, -1130),
        ("symbol=BTCUSDT&interval=1h&startTime=abc", 400, -1100),
    ],
)
def test_bad_klines_requests_get_binance_errors(sandbox_exchange, query, status, code):
    answer_status, _, body = get(sandbox_exchange, f"/api/v3/klines?{query}")
    assert (answer_status, body["code"]) == (status, code)
    assert body["msg"]


def test_exchange_info_is_what_ccxt_loads_as_spot_markets(sandbox_exchange):
    exchange = make_exchange("binance", url=sandbox_exchange.url, timeout_ms=3000, rate_limit=False)
    markets = exchange.load_markets()
    assert sorted(markets) == ["BTC/USDT", "ETH/USDT"]
    btc = markets["BTC/USDT"]
    assert (btc["id"], btc["type"], btc["spot"], btc["active"]) == ("BTCUSDT", "spot", True, True)
    assert btc["precision"]["price"] == 0.01
    assert sandbox_exchange.requests == {"/api/v3/exchangeInfo": 1}


def test_exchange_info_can_be_asked_for_some_symbols(sandbox_exchange):
    _, _, body = get(
        sandbox_exchange, '/api/v3/exchangeInfo?symbols=["ETHUSDT"]'.replace('"', "%22")
    )
    assert [s["symbol"] for s in body["symbols"]] == ["ETHUSDT"]
    _, _, body = get(sandbox_exchange, "/api/v3/exchangeInfo?symbol=BTCUSDT")
    assert [s["symbol"] for s in body["symbols"]] == ["BTCUSDT"]
    status, _, body = get(sandbox_exchange, "/api/v3/exchangeInfo?symbols=[oops")
    assert (status, body["code"]) == (400, -1100)


# -- faults ----------------------------------------------------------------------------------


def test_rate_limit_answers_429_with_retry_after_and_binance_json(sandbox_exchange):
    sandbox_exchange.inject("rate_limit", times=2, retry_after=3)
    for _ in range(2):
        status, headers, body = get(sandbox_exchange, "/api/v3/klines?symbol=BTCUSDT&interval=1h")
        assert (status, headers["Retry-After"], body["code"]) == (429, "3", -1003)
    assert len(klines(sandbox_exchange)) == CLOSED + 1
    assert sandbox_exchange.fired == {"rate_limit": 2}


def test_server_error_answers_the_status_asked_for(sandbox_exchange):
    sandbox_exchange.inject(Fault("server_error", status=502))
    status, _, body = get(sandbox_exchange, "/api/v3/klines?symbol=BTCUSDT&interval=1h")
    assert (status, body["code"]) == (502, -1001)


def test_a_slow_answer_outlasts_a_short_client_timeout(sandbox_exchange):
    sandbox_exchange.inject("slow", delay=2.0)
    with pytest.raises((TimeoutError, socket.timeout, urllib.error.URLError)):
        get(sandbox_exchange, "/api/v3/klines?symbol=BTCUSDT&interval=1h", timeout=0.2)
    assert sandbox_exchange.fired == {"slow": 1}


def test_a_truncated_body_is_shorter_than_its_content_length(sandbox_exchange):
    sandbox_exchange.inject("truncated")
    parts = urlsplit(sandbox_exchange.url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=5)
    conn.request("GET", "/api/v3/klines?symbol=BTCUSDT&interval=1h&limit=50")
    answer = conn.getresponse()
    assert answer.status == 200
    with pytest.raises(http.client.IncompleteRead) as err:
        answer.read()
    assert 0 < len(err.value.partial) < int(answer.headers["Content-Length"])
    conn.close()


def test_a_malformed_body_is_cut_json_with_a_matching_length(sandbox_exchange):
    sandbox_exchange.inject("malformed")
    with urllib.request.urlopen(
        sandbox_exchange.url + "/api/v3/klines?symbol=BTCUSDT&interval=1h&limit=50", timeout=5
    ) as answer:
        body = answer.read()
        assert len(body) == int(answer.headers["Content-Length"])
    with pytest.raises(json.JSONDecodeError):
        json.loads(body)
    assert len(klines(sandbox_exchange, "&limit=50")) == 50  # the next answer is whole


def test_a_duplicate_page_repeats_one_candle_and_keeps_its_length(sandbox_exchange):
    sandbox_exchange.inject("duplicate")
    rows = klines(sandbox_exchange, f"&startTime={T0_MS}&limit=10")
    opens = [r[0] for r in rows]
    assert len(rows) == 10
    assert len(set(opens)) == 9
    assert opens == sorted(opens)


def test_a_missing_page_lacks_one_candle_from_the_middle(sandbox_exchange):
    sandbox_exchange.inject("missing")
    opens = [r[0] for r in klines(sandbox_exchange, f"&startTime={T0_MS}&limit=10")]
    assert len(opens) == 9
    assert opens[0] == T0_MS and opens[-1] == T0_MS + 9 * HOUR_MS
    assert T0_MS + 5 * HOUR_MS not in opens


def test_after_skips_requests_and_endpoint_selects_them(sandbox_exchange):
    sandbox_exchange.inject("server_error", after=2)
    sandbox_exchange.inject(Fault("rate_limit", endpoint="time"))
    statuses = [
        get(sandbox_exchange, "/api/v3/klines?symbol=BTCUSDT&interval=1h")[0] for _ in range(4)
    ]
    assert statuses == [200, 200, 503, 200]
    assert get(sandbox_exchange, "/api/v3/ping")[0] == 200
    assert get(sandbox_exchange, "/api/v3/time")[0] == 429


def test_probability_faults_are_seeded():
    def run() -> list[int]:
        with SandboxExchange(make_candles(30), timeframe="1h", seed=7) as sandbox:
            sandbox.inject("server_error", probability=0.5)
            return [get(sandbox, "/api/v3/klines?symbol=BTCUSDT&interval=1h")[0] for _ in range(40)]

    first, second = run(), run()
    assert first == second
    assert 8 <= first.count(503) <= 32


def test_fault_specs_parse_and_bad_ones_say_what_is_allowed():
    fault = parse_fault("rate_limit:times=3,retry_after=2")
    assert (fault.kind, fault.times, fault.retry_after, fault.endpoint) == (
        "rate_limit",
        3,
        2,
        "klines",
    )
    assert parse_fault("slow:p=0.25,delay=1.5").probability == 0.25
    assert parse_fault("missing").times == 1
    for spec, message in [
        ("explode", "fault kind 'explode' is unknown; use one of rate_limit, server_error"),
        ("slow:speed=3", "NAME one of times, n, p"),
        ("slow:times=x", "times='x' in 'slow:times=x' is not a int"),
        ("slow:times=2,p=0.5", "times or probability, not both"),
        ("server_error:status=404", "must be a 5xx code, got 404"),
        ("duplicate:endpoint=time", "endpoint must be klines"),
        ("slow:p=1.5", r"probability must be in \(0, 1\]"),
    ]:
        with pytest.raises(ConfigError, match=message):
            parse_fault(spec)


def test_control_endpoints_release_and_arm_faults(sandbox_exchange):
    def post(path: str) -> dict:
        request = urllib.request.Request(sandbox_exchange.url + path, method="POST")
        with urllib.request.urlopen(request, timeout=5) as answer:
            return json.loads(answer.read())

    state = post("/sandbox/release?n=3")
    assert state["clock"] == (sandbox_exchange.clock).isoformat()
    assert len(sandbox_exchange.candles()) == CLOSED + 3
    state = post("/sandbox/faults?spec=rate_limit:times=2")
    assert state["faults_pending"] == ["rate_limit:times=2,endpoint=klines,after=0"]
    status, _, state = get(sandbox_exchange, "/sandbox/status")
    assert status == 200
    assert state["symbols"] == ["BTC/USDT", "ETH/USDT"] and state["timeframe"] == "1h"
    assert state["requests"] == {}  # control calls are not exchange requests


# -- set-up ----------------------------------------------------------------------------------


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.10", "example.com", ""])
def test_only_loopback_hosts_are_accepted(host):
    with pytest.raises(ConfigError, match="binds to loopback only"):
        SandboxExchange(make_candles(10), timeframe="1h", host=host)


def test_localhost_binds_to_127_0_0_1():
    with SandboxExchange(make_candles(10), host="localhost") as sandbox:
        assert sandbox.url.startswith("http://127.0.0.1:")
        assert get(sandbox, "/api/v3/ping")[2] == {}


def test_a_csv_is_served_for_each_symbol_with_its_timeframe(candles_csv):
    with SandboxExchange(csv=candles_csv, symbols=("BTC/USDT", "SOL/USDT")) as sandbox:
        assert sandbox.market.timeframe == "1h"
        assert len(sandbox.candles("SOL/USDT")) == 599
        assert len(klines(sandbox, symbol="SOLUSDT", query="&limit=1000")) == 600


def test_bad_set_ups_fail_clearly(tmp_path):
    with pytest.raises(ConfigError, match="must look like BASE/QUOTE"):
        SandboxExchange({"BTCUSDT": make_candles(5)})
    with pytest.raises(DataError, match="does not exist"):
        SandboxExchange(csv=tmp_path / "missing.csv")
    with pytest.raises(ConfigError, match="series= or csv=, not both"):
        SandboxExchange(make_candles(5), csv=tmp_path / "x.csv")
    with pytest.raises(DataError, match="not on the 1h grid"):
        shifted = make_candles(5)
        shifted.index = shifted.index + pd.Timedelta(minutes=5)
        SandboxExchange(shifted, timeframe="1h")


def test_without_data_it_serves_a_generated_series_ending_now():
    with SandboxExchange(symbols=("BTC/USDT", "ETH/USDT")) as sandbox:
        btc, eth = sandbox.candles("BTC/USDT"), sandbox.candles("ETH/USDT")
        assert len(btc) > 1000 and not btc.equals(eth)
        assert (btc["high"] >= btc[["open", "close"]].max(axis=1)).all()
        assert (btc["low"] <= btc[["open", "close"]].min(axis=1)).all()
        assert abs(sandbox.clock - pd.Timestamp.now(tz="UTC")) < pd.Timedelta(hours=1)


def test_serve_runs_in_the_foreground_until_interrupted(candles_csv):
    """The blocking entry point the CLI calls, in a child process stopped with Ctrl-C."""
    code = (
        "from candlecast.sandbox import serve; "
        f"serve(csv={candles_csv!r}, port=0, faults=['rate_limit:times=1'])"
    )
    child = subprocess.Popen(
        [sys.executable, "-u", "-c", code],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        banner = child.stdout.readline()
        assert "sandbox exchange (Binance spot API) on http://127.0.0.1:" in banner
        assert "faults: rate_limit:times=1" in banner
        url = banner.split(" on ", 1)[1].split(" ", 1)[0]
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(f"{url}/api/v3/klines?symbol=BTCUSDT&interval=1h", timeout=5)
        assert err.value.code == 429
        with urllib.request.urlopen(
            f"{url}/api/v3/klines?symbol=BTCUSDT&interval=1h&limit=2", timeout=5
        ) as answer:
            assert len(json.loads(answer.read())) == 2
    finally:
        child.send_signal(signal.SIGINT)
        output, _ = child.communicate(timeout=10)
    assert child.returncode == 0
    assert "sandbox exchange stopped" in output
