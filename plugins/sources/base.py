"""The source contract: bring the store up to date for one series."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, runtime_checkable

import pandas as pd

from candlecast.core.config import SourceConfig
from candlecast.core.market.candles import SeriesKey
from candlecast.core.market.fetch_report import FetchReport
from candlecast.core.storage.candle_store import CandleStore

Progress = Callable[[pd.Timestamp, pd.Timestamp], None]


@runtime_checkable
class Source(Protocol):
    """A candle source plugin.

    `sync` fetches only what `store` does not have yet for `key`, validates it, upserts the
    clean candles (page by page, so a failure keeps what was fetched) and reports what it did.
    It raises `SourceError` when it cannot continue and `ConfigError` for an unknown
    exchange, symbol or timeframe.
    """

    name: str
    description: str

    def series(self, config: SourceConfig) -> list[SeriesKey]:
        """The series this configuration names (one per symbol)."""
        ...

    def check(self, config: SourceConfig) -> None:
        """Fail fast (before any work) when the configuration cannot work with this source."""
        ...

    def sync(self, config: SourceConfig, key: SeriesKey, store: CandleStore) -> FetchReport: ...
