"""The `csv` source: candles from a file (`timestamp,open,high,low,close,volume`), the offline
way to run the same flow. `path` may contain `{symbol}` (BTC/USDT -> BTC-USDT) for several
symbols. Candles newer than the newest stored one are validated and stored; the store then
serves the flow exactly as with an exchange.
"""

from __future__ import annotations

import time
from pathlib import Path

from candlecast.core.config import SourceConfig
from candlecast.core.errors import ConfigError
from candlecast.core.market.candles import SeriesKey
from candlecast.core.market.csv_file import read_candle_csv
from candlecast.core.market.fetch_report import FetchReport
from candlecast.core.market.validation import validate_candles
from candlecast.core.storage.candle_store import CandleStore
from candlecast.plugins import hookimpl
from candlecast.plugins.sources.base import Progress


def csv_path(config: SourceConfig, symbol: str) -> Path:
    if config.path is None:
        raise ConfigError("source.name is 'csv' but source.path is not set: name the CSV file")
    text = str(config.path)
    if "{symbol}" not in text and len(config.symbols) > 1:
        raise ConfigError(
            f"source.path {text!r} names one file but {len(config.symbols)} symbols are "
            "configured; put {symbol} in the path (it becomes e.g. BTC-USDT)"
        )
    return Path(text.replace("{symbol}", symbol.replace("/", "-").replace(":", "-")))


class CsvSource:
    name = "csv"
    description = "Candles from a CSV file (offline runs, backfills from exports)"

    def series(self, config: SourceConfig) -> list[SeriesKey]:
        return [SeriesKey(config.exchange, s, config.timeframe) for s in config.symbols]

    def check(self, config: SourceConfig) -> None:
        for symbol in config.symbols:
            path = csv_path(config, symbol)
            if not path.is_file():
                raise ConfigError(f"source.path {str(path)!r} does not exist or is not a file")

    def sync(
        self,
        config: SourceConfig,
        key: SeriesKey,
        store: CandleStore,
        progress: Progress | None = None,
    ) -> FetchReport:
        started = time.perf_counter()
        frame = read_candle_csv(csv_path(config, key.symbol))
        last = store.last_timestamp(key)
        new = frame[frame.index > last] if last is not None else frame
        clean, rejected = validate_candles(new)
        stored = store.upsert(key, clean)
        if progress is not None and len(clean):
            progress(clean.index[0], clean.index[-1])
        return FetchReport(
            key=key,
            since=last,
            new_candles=stored,
            rejected=rejected,
            first=clean.index[0] if len(clean) else None,
            last=clean.index[-1] if len(clean) else None,
            elapsed_s=time.perf_counter() - started,
            completed=True,
        )


@hookimpl
def register_sources(register) -> None:
    register(CsvSource())
