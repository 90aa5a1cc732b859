"""The `csv` source: candles from a file (`timestamp,open,high,low,close,volume`), the offline
way to run the same flow. `path` may contain `{symbol}` (BTC/USDT -> BTC-USDT) for several
symbols. Its series are labelled with `source.exchange`, `csv` unless set (`csv:BTC/USDT:1h`).

Every sync reads the whole file, checks it against the timeframe (spacing, open-time stamps:
core/market/csv_timeframe.py), and compares each row with the stored candle at its time: new
rows and changed rows (a re-exported file whose last, partial candle was completed) are checked
and stored, and counted; unchanged rows cost nothing. The store then serves the flow exactly as
with an exchange.
"""

from __future__ import annotations

import time
from pathlib import Path

from candlecast.core.config import SourceConfig
from candlecast.core.errors import ConfigError
from candlecast.core.market.candles import SeriesKey
from candlecast.core.market.csv_file import read_candle_csv
from candlecast.core.market.csv_timeframe import fit_timeframe
from candlecast.core.market.fetch_report import FetchReport
from candlecast.core.storage.candle_ingest import ingest_candles
from candlecast.core.storage.candle_store import CandleStore
from candlecast.plugins import hookimpl
from candlecast.plugins.sources.base import Progress

DEFAULT_LABEL = "csv"


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


def earlier_label_note(store: CandleStore, key: SeriesKey) -> str | None:
    """A word when `key` starts empty while the same symbol and timeframe are stored under
    another label: CSV series were stored as `binance:...` before they were labelled `csv`."""
    if key.exchange != DEFAULT_LABEL:
        return None
    others = [
        k
        for k in store.series()
        if (k.symbol, k.timeframe) == (key.symbol, key.timeframe) and k != key
    ]
    if not others:
        return None
    other = others[0]
    return (
        f"{key} is new in this database, but {other} holds {store.count(other)} candle(s) of the "
        f"same symbol and timeframe (CSV candles were labelled with source.exchange, "
        f"'binance' by default, before CSV series got the label 'csv'); to go on with that series "
        f'set source.exchange = "{other.exchange}" (--exchange {other.exchange}); to remove it: '
        f"candlecast candles delete --exchange {other.exchange} --symbol {other.symbol} "
        f"--timeframe {other.timeframe} --all"
    )


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
        path = csv_path(config, key.symbol)
        frame, moved = fit_timeframe(read_candle_csv(path), key.timeframe, str(path))
        last = store.last_timestamp(key)
        earlier = earlier_label_note(store, key) if last is None else None
        done = ingest_candles(store, key, frame)
        if progress is not None and len(done.new):
            progress(done.new[0], done.new[-1])
        report = FetchReport(
            key=key,
            since=last,
            new_candles=len(done.new),
            rejected=done.rejected,
            first=done.new[0] if len(done.new) else None,
            last=done.new[-1] if len(done.new) else None,
            notes=[note for note in (moved, earlier) if note],
            elapsed_s=time.perf_counter() - started,
            completed=True,
        )
        report.add_corrections(done.corrected)
        return report


@hookimpl
def register_sources(register) -> None:
    register(CsvSource())
