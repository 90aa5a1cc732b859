"""Loading the markets through REAL ccxt over HTTP from the sandbox exchange: retried like every
other request (transient errors only, backoff, `Retry-After`), and a clear SourceError that says
what failed, and why, when it cannot be loaded (issue 15, point 1)."""

from __future__ import annotations

import socket

import pytest

from candlecast.core.config import SourceConfig
from candlecast.core.errors import SourceError
from candlecast.plugins.sources.ccxt.exchange import check_series, make_exchange
from candlecast.plugins.sources.ccxt.markets import load_markets
from candlecast.plugins.sources.ccxt.retry import RetryPolicy
from candlecast.plugins.sources.ccxt.source import CcxtSource

FAST = RetryPolicy(attempts=4, base_delay=0.01, max_delay=5.0, jitter=0.0)
INFO = "/api/v3/exchangeInfo"


class Sleeps(list):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def client(sandbox, **kwargs):
    return make_exchange("binance", url=sandbox.url, timeout_ms=3000, rate_limit=False, **kwargs)


def test_a_markets_request_answered_429_is_retried_after_its_retry_after(sandbox_exchange):
    sandbox_exchange.inject("rate_limit", endpoint="exchangeInfo", times=1, retry_after=3)
    sleeps = Sleeps()

    check_series(client(sandbox_exchange), "BTC/USDT", "1h", retry=FAST, sleep=sleeps)

    assert sandbox_exchange.fired == {"rate_limit": 1}
    assert sandbox_exchange.requests == {INFO: 2}  # the 429, then the markets
    assert sleeps == [3.0]  # the exchange's Retry-After, not the 0.01 s backoff


@pytest.mark.parametrize("status", [500, 503])
def test_a_server_error_on_the_markets_is_retried_with_backoff(sandbox_exchange, status):
    sandbox_exchange.inject("server_error", endpoint="exchangeInfo", times=2, status=status)
    sleeps = Sleeps()
    report = load_markets(client(sandbox_exchange), FAST, sleeps)
    assert (report.requests, report.retries, report.completed) == (3, 2, True)
    assert sleeps == [0.01, 0.02]
    assert sandbox_exchange.requests == {INFO: 3}


def test_markets_that_stay_unavailable_fail_naming_the_attempts_and_the_cause(sandbox_exchange):
    sandbox_exchange.inject("server_error", endpoint="exchangeInfo", times=10, status=503)
    with pytest.raises(SourceError) as err:
        check_series(client(sandbox_exchange), "BTC/USDT", "1h", retry=FAST, sleep=Sleeps())
    assert str(err.value) == (
        "could not load the markets of binance: failed after 4 attempt(s): OperationFailed: "
        'binance {"code":-1001,"msg":"Internal error; unable to process your request. Please '
        'try again."} (HTTP 503 Service Unavailable)'
    )
    assert not err.value.rate_limited
    assert sandbox_exchange.requests == {INFO: 4}


def test_a_markets_rate_limit_that_outlasts_the_retries_says_so(sandbox_exchange):
    sandbox_exchange.inject("rate_limit", endpoint="exchangeInfo", times=10, retry_after=0)
    with pytest.raises(SourceError) as err:
        check_series(client(sandbox_exchange), "BTC/USDT", "1h", retry=FAST, sleep=Sleeps())
    message = str(err.value)
    assert message.startswith(
        "could not load the markets of binance: failed after 4 attempt(s): DDoSProtection: "
        "binance 429 Too Many Requests"
    )
    assert err.value.rate_limited  # the CLI then says "wait", not "go offline"


def test_a_refused_connection_names_its_cause():
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    exchange = make_exchange("binance", url=f"http://127.0.0.1:{port}", rate_limit=False)
    with pytest.raises(SourceError) as err:
        load_markets(exchange, RetryPolicy(attempts=2, base_delay=0.0, jitter=0.0))
    assert str(err.value) == (
        "could not load the markets of binance: failed after 2 attempt(s): NetworkError: "
        f"binance GET http://127.0.0.1:{port}/api/v3/exchangeInfo (connection refused)"
    )


def test_a_refused_markets_request_is_not_retried(sandbox_exchange):
    exchange = client(sandbox_exchange)
    exchange.urls["api"]["public"] = sandbox_exchange.url + "/nowhere"  # a 404: "not supported"
    sleeps = Sleeps()
    with pytest.raises(SourceError) as err:
        load_markets(exchange, FAST, sleeps)
    assert str(err.value).startswith("could not load the markets of binance: was refused: ")
    assert "This operation is not supported" in str(err.value)
    assert sleeps == [] and sandbox_exchange.total_requests == 1


def test_the_ccxt_source_check_retries_the_markets_under_source_retries(
    sandbox_exchange, monkeypatch
):
    monkeypatch.setenv("CANDLECAST_MARKETS_CACHE", "off")
    sandbox_exchange.inject("rate_limit", endpoint="exchangeInfo", times=1, retry_after=0)
    config = SourceConfig(url=sandbox_exchange.url, symbols=["BTC/USDT", "ETH/USDT"], retries=1)

    CcxtSource().check(config)  # one 429, one retry, the markets

    assert sandbox_exchange.requests == {INFO: 2}
    sandbox_exchange.inject("rate_limit", endpoint="exchangeInfo", times=5, retry_after=0)
    CcxtSource().check(config)  # loaded once per process and client: no request
    assert sandbox_exchange.requests == {INFO: 2}
