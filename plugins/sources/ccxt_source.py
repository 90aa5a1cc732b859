"""The `ccxt` source: public OHLCV candles from any ccxt exchange, fetched incrementally.

The first run backfills `history_days`; later runs ask only for candles after the newest one
stored. Pages are validated and stored one by one, so a failure keeps what came before it.
One client per (exchange, URL) per process: markets load once, and ccxt's rate limiter sees
every request of the run.
"""

from __future__ import annotations

import threading

import ccxt
import pandas as pd

from candlecast.core.candles import SeriesKey
from candlecast.core.config import SourceConfig
from candlecast.core.exchange import check_series, make_exchange
from candlecast.core.fetch import FetchReport, RetryPolicy, sync_series
from candlecast.core.storage.candle_store import CandleStore
from candlecast.plugins import hookimpl

_clients: dict[tuple[str, str | None], tuple[ccxt.Exchange, threading.Lock]] = {}
_clients_lock = threading.Lock()


def client(config: SourceConfig) -> tuple[ccxt.Exchange, threading.Lock]:
    """The process's client for this exchange and URL, with a lock serialising its requests."""
    key = (config.exchange, config.url)
    with _clients_lock:
        if key not in _clients:
            exchange = make_exchange(
                config.exchange, url=config.url, timeout_ms=int(config.timeout_s * 1000)
            )
            _clients[key] = (exchange, threading.Lock())
        return _clients[key]


def retry_policy(config: SourceConfig) -> RetryPolicy:
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
                check_series(exchange, symbol, config.timeframe)

    def sync(self, config: SourceConfig, key: SeriesKey, store: CandleStore) -> FetchReport:
        exchange, lock = client(config)
        with lock:
            check_series(exchange, key.symbol, key.timeframe)
            return sync_series(
                exchange,
                store,
                key,
                history=pd.Timedelta(days=config.history_days),
                retry=retry_policy(config),
            )


@hookimpl
def register_sources(register) -> None:
    register(CcxtSource())
