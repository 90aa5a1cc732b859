"""Making a ccxt exchange client for public market data, and checking a series against it."""

from __future__ import annotations

import difflib
import os
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import ccxt

from candlecast.core.errors import ConfigError
from candlecast.core.market.timeframes import timeframe_seconds
from candlecast.plugins.sources.ccxt.markets import load_markets
from candlecast.plugins.sources.ccxt.retry import RetryPolicy

# Exchanges whose ccxt client is Binance's: restricted to spot, no calls that need API keys.
_BINANCE_SPOT = {"binance", "binanceus"}
_BINANCE_OPTIONS = {
    "defaultType": "spot",
    "fetchMarkets": {"types": ["spot"], "loadAllOptions": False},
    "fetchCurrencies": False,  # Binance serves currencies from a keyed endpoint only
    "fetchMargins": False,  # margin pairs: keyed endpoints
    "adjustForTimeDifference": False,
}


def _close(word: str, choices: list[str], n: int = 5) -> list[str]:
    by_case = {c.lower(): c for c in choices}
    return [by_case[m] for m in difflib.get_close_matches(word.lower(), list(by_case), n, 0.6)]


def _rebase(value: Any, base: str) -> Any:
    """Every URL in ccxt's `urls["api"]` moved onto `base`, keeping its path."""
    if isinstance(value, str):
        return base + urlsplit(value).path
    if isinstance(value, dict):
        return {k: _rebase(v, base) for k, v in value.items()}
    return value


def make_exchange(
    exchange_id: str,
    *,
    url: str | None = None,
    timeout_ms: int = 10_000,
    rate_limit: bool = True,
    api_key_env: str | None = None,
) -> ccxt.Exchange:
    """A ccxt client for public market data.

    `url` replaces the scheme and host of every REST endpoint (the paths stay), so the real
    client talks to a sandbox exchange: `make_exchange("binance", url="http://127.0.0.1:8765")`.
    `rate_limit` turns ccxt's own request throttle on. `api_key_env` names an environment
    variable holding an API key (some exchanges allow more public requests with one).
    """
    if exchange_id not in ccxt.exchanges:
        near = _close(exchange_id, list(ccxt.exchanges))
        raise ConfigError(
            f"exchange {exchange_id!r} is not a ccxt exchange id"
            + (f"; did you mean {', '.join(near)}?" if near else "")
            + f" ccxt {ccxt.__version__} knows {len(ccxt.exchanges)}: {', '.join(ccxt.exchanges)}"
        )
    if isinstance(timeout_ms, bool) or not isinstance(timeout_ms, int) or timeout_ms <= 0:
        raise ConfigError(
            f"timeout_ms must be a positive integer (milliseconds), got {timeout_ms!r}"
        )
    config: dict[str, Any] = {"timeout": timeout_ms, "enableRateLimit": bool(rate_limit)}
    if exchange_id in _BINANCE_SPOT:
        config["options"] = dict(_BINANCE_OPTIONS)
    if api_key_env is not None:
        key = os.environ.get(api_key_env)
        if not key:
            raise ConfigError(
                f"api_key_env names the environment variable {api_key_env!r}, which is not set "
                f"or empty; set it or leave api_key_env out for keyless public data"
            )
        config["apiKey"] = key
    exchange = getattr(ccxt, exchange_id)(config)
    if url is not None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ConfigError(
                f"url must be an http(s) base URL such as http://127.0.0.1:8765, got {url!r}"
            )
        base = f"{parts.scheme}://{parts.netloc}{parts.path.rstrip('/')}"
        exchange.urls = {**exchange.urls, "api": _rebase(exchange.urls["api"], base)}
    return exchange


def check_series(
    exchange: ccxt.Exchange,
    symbol: str,
    timeframe: str,
    *,
    retry: RetryPolicy | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """Fail at once, listing what the exchange offers, when it has no such symbol or timeframe.

    Loads the exchange's markets (one request the first time, retried under `retry`; ccxt keeps
    them): a SourceError when that still fails.
    """
    offered_timeframes = list((exchange.timeframes or {}).keys())
    if timeframe not in offered_timeframes:
        raise ConfigError(
            f"timeframe {timeframe!r} is not offered by {exchange.id}; it offers "
            f"{', '.join(offered_timeframes) or 'none'}"
        )
    timeframe_seconds(timeframe)  # and candlecast must understand it
    load_markets(exchange, retry, sleep)
    symbols = list(exchange.symbols or [])
    if symbol not in symbols:
        near = _close(symbol, symbols)
        raise ConfigError(
            f"symbol {symbol!r} is not offered by {exchange.id} ({len(symbols)} markets)"
            + (f"; close matches: {', '.join(near)}" if near else "")
            + (f"; for example: {', '.join(symbols[:5])}" if not near and symbols else "")
        )
