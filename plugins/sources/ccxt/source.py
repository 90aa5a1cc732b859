"""The `ccxt` source: public OHLCV candles from any ccxt exchange, fetched incrementally.

The first run backfills `history_days`; later runs ask only for candles after the newest one
stored. Pages are validated and stored one by one, so a failure keeps what came before it.
One client per (exchange, URL) per process: markets load once, and ccxt's rate limiter sees
every request of the run.

Markets are also kept on disk between processes for `MARKETS_TTL` (each scheduled run is a new
process): an incremental run then makes one request per series, not one more for the markets.
The folder is `$CANDLECAST_MARKETS_CACHE` (`off` disables it), by default
`$XDG_CACHE_HOME/candlecast/markets` (`~/.cache/...`). A symbol missing from cached markets
reloads them from the exchange before it is reported unknown, so a new listing is never missed.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import threading
import time
from pathlib import Path

import ccxt
import pandas as pd

from candlecast.core.config import SourceConfig
from candlecast.core.errors import ConfigError
from candlecast.core.market.candles import SeriesKey
from candlecast.core.market.fetch_report import FetchReport
from candlecast.core.storage.atomic import write_atomic
from candlecast.core.storage.candle_store import CandleStore
from candlecast.plugins import hookimpl
from candlecast.plugins.sources.base import Progress
from candlecast.plugins.sources.ccxt.exchange import check_series, make_exchange
from candlecast.plugins.sources.ccxt.retry import RetryPolicy
from candlecast.plugins.sources.ccxt.sync import sync_series

MARKETS_TTL = 24 * 3600.0  # seconds a cached copy of an exchange's markets is used

_clients: dict[tuple[str, str | None], tuple[ccxt.Exchange, threading.Lock]] = {}
_clients_lock = threading.Lock()
_from_cache: set[tuple[str, str | None]] = set()  # clients whose markets came from the disk


def markets_cache_path(config: SourceConfig) -> Path | None:
    """Where this exchange's (and URL's) markets are cached, or None when caching is off."""
    root = os.environ.get("CANDLECAST_MARKETS_CACHE")
    if root is not None and root.strip().lower() in ("", "0", "off", "false", "no"):
        return None
    if not root:
        home = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
        root = str(Path(home) / "candlecast" / "markets")
    url = hashlib.sha256((config.url or "").encode()).hexdigest()[:12]
    return Path(root) / f"{config.exchange}-{url}.json"


def _read_cached_markets(path: Path | None) -> dict | None:
    if path is None:
        return None
    with contextlib.suppress(OSError, ValueError):
        if time.time() - path.stat().st_mtime < MARKETS_TTL:
            markets = json.loads(path.read_text(encoding="utf-8"))
            return markets if isinstance(markets, dict) and markets else None
    return None


def _write_cached_markets(path: Path | None, exchange: ccxt.Exchange) -> None:
    """Cache the markets; copies past MARKETS_TTL (other exchanges, old URLs) are removed."""
    if path is None or not exchange.markets:
        return
    text = json.dumps(exchange.markets, separators=(",", ":"), default=str)
    with contextlib.suppress(Exception):  # a cache: never fail a run on it
        write_atomic(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))
        for old in path.parent.glob("*.json"):
            if time.time() - old.stat().st_mtime > MARKETS_TTL:
                old.unlink(missing_ok=True)


def client(config: SourceConfig) -> tuple[ccxt.Exchange, threading.Lock]:
    """The process's client for this exchange and URL, with a lock serialising its requests;
    its markets come from the disk cache when a fresh copy is there."""
    key = (config.exchange, config.url)
    with _clients_lock:
        if key not in _clients:
            exchange = make_exchange(
                config.exchange, url=config.url, timeout_ms=int(config.timeout_s * 1000)
            )
            cached = _read_cached_markets(markets_cache_path(config))
            if cached is not None:
                exchange.set_markets(cached)
                _from_cache.add(key)
            _clients[key] = (exchange, threading.Lock())
        return _clients[key]


def _check(config: SourceConfig, exchange: ccxt.Exchange, symbol: str) -> None:
    """check_series, with markets loaded (and cached) or, when a cached copy lacks the symbol,
    reloaded from the exchange once before the symbol is reported unknown. Call under the lock."""
    key = (config.exchange, config.url)
    loaded = bool(exchange.markets)
    retry = retry_policy(config)
    try:
        check_series(exchange, symbol, config.timeframe, retry=retry)
    except ConfigError:
        if key not in _from_cache:
            raise
        _from_cache.discard(key)
        exchange.markets = {}  # so check_series loads them from the exchange (retried)
        check_series(exchange, symbol, config.timeframe, retry=retry)
        _write_cached_markets(markets_cache_path(config), exchange)
        return
    if not loaded:  # check_series just fetched them
        _write_cached_markets(markets_cache_path(config), exchange)


def retry_policy(config: SourceConfig) -> RetryPolicy:
    """Every request of the source, the markets included: `source.retries` retries."""
    return RetryPolicy(attempts=config.retries + 1)


class CcxtSource:
    name = "ccxt"
    description = "Public OHLCV from a ccxt exchange (incremental, paginated, retried)"

    def series(self, config: SourceConfig) -> list[SeriesKey]:
        return [SeriesKey(config.exchange, s, config.timeframe) for s in config.symbols]

    def check(self, config: SourceConfig) -> None:
        exchange, lock = client(config)
        with lock:
            for symbol in config.symbols:
                _check(config, exchange, symbol)

    def sync(
        self,
        config: SourceConfig,
        key: SeriesKey,
        store: CandleStore,
        progress: Progress | None = None,
    ) -> FetchReport:
        exchange, lock = client(config)
        with lock:
            _check(config, exchange, key.symbol)
            return sync_series(
                exchange,
                store,
                key,
                history=pd.Timedelta(days=config.history_days),
                retry=retry_policy(config),
                overlap=config.reread_candles,
                progress=progress,
            )


@hookimpl
def register_sources(register) -> None:
    register(CcxtSource())
