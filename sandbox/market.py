"""The sandbox's market: candle series per symbol and a clock that decides what has happened yet.

At clock time `now`, a candle whose open time + timeframe <= now is closed and served as it is;
the one with open time <= now < close time is the currently open candle, served partly formed
(as Binance serves it); later candles do not exist yet. The clock stands still unless released
(`release(n)`: n more candles close) or a replay speed is set (sandbox seconds per real second).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from candlecast.core.errors import ConfigError, DataError
from candlecast.core.market.candles import OHLCV_COLUMNS, require_frame
from candlecast.core.market.timeframes import timeframe_seconds

MAX_LIMIT = 1000
DEFAULT_LIMIT = 500


@dataclass(frozen=True)
class Kline:
    """One candle as served: open time (ms), OHLCV, and whether it is still open."""

    open_ms: int
    open: float
    high: float
    low: float
    close: float
    volume: float
    closed: bool


@dataclass(frozen=True)
class _Series:
    symbol: str
    market_id: str
    base: str
    quote: str
    open_ms: np.ndarray  # [n] int64, strictly increasing
    values: np.ndarray  # [n, 5] float64: open, high, low, close, volume


def market_id(symbol: str) -> str:
    """`BTC/USDT` -> `BTCUSDT` (Binance's id)."""
    return symbol.replace("/", "")


def _series(symbol: str, frame: pd.DataFrame) -> _Series:
    base, sep, quote = symbol.partition("/")
    if (
        not sep
        or not base.isalnum()
        or not quote.isalnum()
        or base.upper() != base
        or quote.upper() != quote
    ):
        raise ConfigError(f"sandbox symbol {symbol!r} must look like BASE/QUOTE, e.g. BTC/USDT")
    frame = require_frame(frame, f"sandbox candles for {symbol}")
    if frame.empty:
        raise DataError(f"sandbox candles for {symbol} are empty")
    open_ms = pd.DatetimeIndex(frame.index).as_unit("ms").asi8.astype("int64")
    if (np.diff(open_ms) <= 0).any():
        raise DataError(f"sandbox candles for {symbol} must have strictly increasing open times")
    values = frame[list(OHLCV_COLUMNS)].to_numpy(dtype="float64", copy=True)  # correct() writes
    return _Series(symbol, market_id(symbol), base, quote, open_ms, values)


class SandboxMarket:
    """Series per unified symbol (`{"BTC/USDT": frame}`), one timeframe, one shared clock."""

    def __init__(
        self,
        series: Mapping[str, pd.DataFrame],
        timeframe: str,
        *,
        clock: pd.Timestamp | None = None,
        hold_back: int = 0,
        replay_speed: float | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if not series:
            raise ConfigError("the sandbox needs at least one symbol with candles")
        self.timeframe = timeframe
        self.tf_ms = timeframe_seconds(timeframe) * 1000
        self._series = {s.market_id: s for s in (_series(k, v) for k, v in series.items())}
        for s in self._series.values():
            if ((s.open_ms % self.tf_ms) != 0).any():
                bad = int(s.open_ms[(s.open_ms % self.tf_ms) != 0][0])
                raise DataError(
                    f"sandbox candles for {s.symbol}: open time {pd.Timestamp(bad, unit='ms', tz='UTC')} "
                    f"is not on the {timeframe} grid"
                )
        if not isinstance(hold_back, int) or hold_back < 0:
            raise ConfigError(f"hold_back must be an integer >= 0 (candles), got {hold_back!r}")
        if replay_speed is not None and replay_speed <= 0:
            raise ConfigError(
                f"replay_speed must be > 0 (sandbox seconds per second), got {replay_speed!r}"
            )
        if clock is None:
            last_open = max(int(s.open_ms[-1]) for s in self._series.values())
            # the newest candle is the open one, half formed; hold_back candles lie in the future
            start_ms = last_open + self.tf_ms // 2 - hold_back * self.tf_ms
        else:
            start_ms = int(pd.Timestamp(clock).value // 1_000_000) - hold_back * self.tf_ms
        self._start_ms = start_ms
        self._offset_ms = 0
        self._replay_speed = replay_speed
        self._monotonic = monotonic
        self._t0 = monotonic()
        self._lock = threading.Lock()

    # -- clock -------------------------------------------------------------------------------
    def now_ms(self) -> int:
        with self._lock:
            now = self._start_ms + self._offset_ms
            if self._replay_speed:
                now += int((self._monotonic() - self._t0) * self._replay_speed * 1000)
        return now

    @property
    def clock(self) -> pd.Timestamp:
        return pd.Timestamp(self.now_ms(), unit="ms", tz="UTC")

    def release(self, n: int = 1) -> pd.Timestamp:
        """Move the clock on by `n` timeframes, so `n` more candles close; returns the clock."""
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ConfigError(f"release(n): n must be a positive integer (candles), got {n!r}")
        with self._lock:
            self._offset_ms += n * self.tf_ms
        return self.clock

    # -- data --------------------------------------------------------------------------------
    def correct(self, symbol: str, open_time: pd.Timestamp, **values: float) -> None:
        """Change candle values after the fact, as an exchange revises a candle it served:
        `correct("BTC/USDT", t, close=42_000.0, high=42_100.0)`. Later answers serve the new
        values; the candle must exist and stay valid (high >= open, close >= low > 0)."""
        if market_id(symbol) not in self._series:
            raise ConfigError(f"sandbox symbol {symbol!r} is unknown; it serves {self.symbols}")
        unknown = sorted(set(values) - set(OHLCV_COLUMNS))
        if unknown or not values:
            raise ConfigError(
                f"correct() takes new values for {', '.join(OHLCV_COLUMNS)}, got {unknown or 'none'}"
            )
        s = self._series[market_id(symbol)]
        at = int(pd.Timestamp(open_time).value // 1_000_000)
        row = int(np.searchsorted(s.open_ms, at))
        if row >= len(s.open_ms) or s.open_ms[row] != at:
            raise ConfigError(f"sandbox {symbol} has no candle opening at {open_time}")
        new = s.values[row].copy()
        for name, value in values.items():
            new[OHLCV_COLUMNS.index(name)] = float(value)
        o, h, low, c, v = new
        if not (h >= max(o, c) and 0 < low <= min(o, c) and v >= 0):
            raise ConfigError(
                f"corrected candle {dict(zip(OHLCV_COLUMNS, new, strict=True))} is not valid"
            )
        with self._lock:
            s.values[row] = new

    @property
    def symbols(self) -> list[str]:
        return [s.symbol for s in self._series.values()]

    def series_info(self) -> list[_Series]:
        return list(self._series.values())

    def has_market(self, market_id_: str) -> bool:
        return market_id_ in self._series

    def closed_candles(self, symbol: str) -> pd.DataFrame:
        """The candles of `symbol` closed at the current clock (what a client may store)."""
        s = self._series[market_id(symbol)]
        n = int(np.searchsorted(s.open_ms, self.now_ms() - self.tf_ms, side="right"))
        index = pd.DatetimeIndex(
            pd.to_datetime(s.open_ms[:n], unit="ms", utc=True), name="timestamp"
        )
        frame = pd.DataFrame(s.values[:n], columns=list(OHLCV_COLUMNS), index=index)
        frame["synthetic"] = False
        return frame

    def klines(
        self,
        market_id_: str,
        *,
        start_ms: int | None = None,
        end_ms: int | None = None,
        limit: int = DEFAULT_LIMIT,
    ) -> list[Kline]:
        """Binance's klines query: open time in [start, end], at most `limit`, oldest first.

        With a start, the first `limit` candles from it; without, the newest `limit` up to end.
        """
        s = self._series[market_id_]
        now = self.now_ms()
        hi = int(np.searchsorted(s.open_ms, now, side="right"))  # candles that exist by now
        if end_ms is not None:
            hi = min(hi, int(np.searchsorted(s.open_ms, end_ms, side="right")))
        if start_ms is not None:
            lo = int(np.searchsorted(s.open_ms, start_ms, side="left"))
            hi = min(hi, lo + limit)
        else:
            lo = max(0, hi - limit)
        out = []
        for i in range(lo, hi):
            o, h, low, c, v = (float(x) for x in s.values[i])
            open_ms = int(s.open_ms[i])
            closed = open_ms + self.tf_ms <= now
            if not closed:
                # partly formed: the price has moved part of the way from open to close
                f = (now - open_ms) / self.tf_ms
                c = o + (c - o) * f
                h, low, v = max(o, c), min(o, c), v * f
            out.append(Kline(open_ms, o, h, low, c, v, closed))
        return out
