"""What one fetch or sync of a series did (requests, candles, rejections, retries, how far),
and the error a source raises when it stops part-way: the contract every source reports in."""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from candlecast.core.errors import SourceError
from candlecast.core.market.candles import SeriesKey
from candlecast.core.market.validation import Rejections

MAX_CORRECTED_SHOWN = 5


@dataclass
class FetchReport:
    """What one fetch or sync did: requests, pages, candles, rejections, retries, how far."""

    key: SeriesKey
    since: pd.Timestamp | None = None
    requests: int = 0
    pages: int = 0
    new_candles: int = 0
    rejected: Rejections = field(default_factory=Rejections)
    retries: int = 0
    first: pd.Timestamp | None = None  # oldest candle fetched (open time)
    last: pd.Timestamp | None = None  # newest candle fetched (open time)
    elapsed_s: float = 0.0
    duplicates: int = 0  # repeated candles dropped
    open_dropped: int = 0  # still-open candles seen and not kept
    gap_rechecks: int = 0  # pages asked for again because they had a gap
    recovered: int = 0  # candles that only the re-ask returned
    corrected: int = 0  # stored candles the source now has other values for: overwritten
    corrected_at: list[pd.Timestamp] = field(default_factory=list)  # the first few of them
    notes: list[str] = field(default_factory=list)  # what the user should know, one line each
    completed: bool = False
    error: str | None = None

    def add_corrections(self, timestamps: pd.DatetimeIndex | list[pd.Timestamp]) -> None:
        """Count stored candles overwritten with the source's newer values."""
        self.corrected += len(timestamps)
        room = max(0, MAX_CORRECTED_SHOWN - len(self.corrected_at))
        self.corrected_at.extend(pd.Timestamp(t) for t in list(timestamps)[:room])

    def summary(self) -> str:
        span = (
            f"{self.first.isoformat()} .. {self.last.isoformat()}"
            if self.first is not None and self.last is not None
            else "-"
        )
        text = (
            f"{self.key}: {self.new_candles} new candle(s) [{span}] in {self.requests} request(s), "
            f"{self.pages} page(s), {self.retries} retr{'y' if self.retries == 1 else 'ies'}, "
            f"{self.elapsed_s:.2f} s"
        )
        if self.rejected:
            text += f"; {self.rejected.summary()}"
        if self.duplicates:
            text += f"; {self.duplicates} duplicate(s) dropped"
        if self.recovered:
            text += f"; {self.recovered} candle(s) recovered on re-ask"
        if self.corrected:
            shown = ", ".join(t.isoformat() for t in self.corrected_at)
            more = ", ..." if self.corrected > len(self.corrected_at) else ""
            text += (
                f"; {self.corrected} stored candle(s) corrected with the source's newer values "
                f"({shown}{more})"
            )
        for note in self.notes:
            text += f"; {note}"
        if self.error:
            text += f"; FAILED: {self.error}"
        return text


class FetchFailed(SourceError):
    """A fetch that still failed after its retries; `.report` says how far it got."""

    def __init__(self, message: str, report: FetchReport) -> None:
        super().__init__(message)
        self.report = report
