"""make_exchange and check_series: a public-data ccxt client, and fail-fast series checks."""

from __future__ import annotations

import ccxt
import pytest

from candlecast.core.errors import ConfigError
from candlecast.plugins.sources.ccxt.exchange import check_series, make_exchange


def test_unknown_exchange_lists_close_matches_and_every_ccxt_id():
    with pytest.raises(ConfigError) as err:
        make_exchange("binanse")
    message = str(err.value)
    assert message.startswith("exchange 'binanse' is not a ccxt exchange id; did you mean binance")
    assert f"knows {len(ccxt.exchanges)}:" in message
    assert all(exchange_id in message for exchange_id in ("kraken", "coinbase", "okx"))


def test_url_moves_every_endpoint_onto_the_sandbox_and_keeps_paths():
    exchange = make_exchange(
        "binance", url="http://127.0.0.1:9/", timeout_ms=1234, rate_limit=False
    )
    api = exchange.urls["api"]
    assert api["public"] == "http://127.0.0.1:9/api/v3"
    assert api["fapiPublic"] == "http://127.0.0.1:9/fapi/v1"
    assert api["sapi"] == "http://127.0.0.1:9/sapi/v1"
    assert all(url.startswith("http://127.0.0.1:9/") for url in api.values())
    assert (exchange.timeout, exchange.enableRateLimit) == (1234, False)


def test_binance_is_restricted_to_spot_and_keyless_calls():
    exchange = make_exchange("binance")
    assert exchange.options["fetchMarkets"]["types"] == ["spot"]
    assert exchange.options["fetchCurrencies"] is False
    assert exchange.options["fetchMargins"] is False
    assert exchange.options["defaultType"] == "spot"
    assert exchange.enableRateLimit is True
    assert not exchange.apiKey


def test_api_key_comes_from_the_named_environment_variable(monkeypatch):
    monkeypatch.setenv("CANDLECAST_TEST_KEY", "k-123")
    assert make_exchange("kraken", api_key_env="CANDLECAST_TEST_KEY").apiKey == "k-123"
    monkeypatch.delenv("CANDLECAST_TEST_KEY")
    with pytest.raises(ConfigError, match="'CANDLECAST_TEST_KEY', which is not set"):
        make_exchange("kraken", api_key_env="CANDLECAST_TEST_KEY")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"url": "127.0.0.1:8765"}, "url must be an http(s) base URL"),
        ({"url": "ftp://host"}, "url must be an http(s) base URL"),
        ({"timeout_ms": 0}, "timeout_ms must be a positive integer"),
        ({"timeout_ms": 2.5}, "timeout_ms must be a positive integer"),
    ],
)
def test_bad_arguments_are_config_errors(kwargs, message):
    with pytest.raises(ConfigError) as err:
        make_exchange("binance", **kwargs)
    assert message in str(err.value)


def client(sandbox):
    return make_exchange("binance", url=sandbox.url, timeout_ms=3000, rate_limit=False)


def test_check_series_accepts_what_the_exchange_offers_in_one_request(sandbox_exchange):
    exchange = client(sandbox_exchange)
    check_series(exchange, "BTC/USDT", "1h")
    check_series(exchange, "ETH/USDT", "1d")
    # markets load once, from the spot endpoint only (no futures, margin or keyed calls)
    assert sandbox_exchange.requests == {"/api/v3/exchangeInfo": 1}


def test_unknown_symbol_lists_close_matches_and_the_count(sandbox_exchange):
    with pytest.raises(ConfigError) as err:
        check_series(client(sandbox_exchange), "BTC/USDC", "1h")
    assert (
        str(err.value)
        == "symbol 'BTC/USDC' is not offered by binance (2 markets); close matches: BTC/USDT, ETH/USDT"
    )
    with pytest.raises(
        ConfigError,
        match=r"'DOGE/EUR' is not offered by binance \(2 markets\); for example: BTC/USDT, ETH/USDT",
    ):
        check_series(client(sandbox_exchange), "DOGE/EUR", "1h")


def test_unknown_timeframe_lists_the_exchange_timeframes_without_a_request(sandbox_exchange):
    with pytest.raises(ConfigError) as err:
        check_series(client(sandbox_exchange), "BTC/USDT", "7h")
    assert str(err.value) == (
        "timeframe '7h' is not offered by binance; it offers "
        "1s, 1m, 3m, 5m, 15m, 30m, 1h, 2h, 4h, 6h, 8h, 12h, 1d, 3d, 1w, 1M"
    )
    assert sandbox_exchange.requests == {}
