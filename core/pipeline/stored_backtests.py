"""A registered network's forecasts by origin: computed in one batched call per run, stored
with the model version, and read back by the next run that reuses the model.

A network that is not retrained forecasts the same from the same candles. Each forecast is kept
under its origin's open time with a digest of the candles it was computed from (`input_digest`:
the window, the seasonal lags, the previous candle of the first step change); a stored forecast
is used only when the model version and the digest match, so a corrected candle recomputes the
forecasts that saw it. The backtest's origins move forward with each new candle (they are
anchored at the newest one), so every hourly origin of the span is stored, not only this run's:
the next run then computes only the origins that are new since (the newest candle's, usually).

The leaderboard, the residuals and the conformal intervals are recomputed each run from these
forecasts and the current actuals (arithmetic, no model call), so they are exactly what a
recomputing run gives.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np
import pandas as pd

from candlecast.core.evaluation.folds import FoldSpec, walk_forward
from candlecast.core.storage.backtest_store import BacktestStore, Stored

log = logging.getLogger("candlecast.modelling")

CANDLE_COLUMNS = ("open", "high", "low", "close", "volume")
EWM_MEMORY = 600
"""Candles before an input window that feature "trend" (an exponential moving average, span
24 for hourly candles) still sees above float64 precision: 0.92 ** 600 < 1e-21."""


class _Network(Protocol):
    horizon: int
    window: int
    features: list[str]
    lag_periods: list[int]

    def predict_at(self, frame: pd.DataFrame, y: pd.Series, origins: Any) -> np.ndarray: ...


def lookback(network: _Network) -> int:
    """Candles up to and including an origin that its forecast depends on."""
    reach = network.window + max(network.lag_periods, default=0) + 1
    if "trend" in network.features:
        reach += EWM_MEMORY
    return reach


def input_digests(frame: pd.DataFrame, y: pd.Series, origins: np.ndarray, reach: int) -> list[str]:
    """A digest per origin of the candles `[origin - reach + 1, origin]` (and of the target):
    each candle is fingerprinted once (its prices, volume, target, synthetic flag and open
    time), then each origin's digest hashes its window's fingerprints."""
    prints = _candle_fingerprints(frame, y)
    out = []
    for origin in origins:
        window = prints[max(0, int(origin) - reach + 1) : int(origin) + 1]
        out.append(hashlib.blake2b(window.tobytes(), digest_size=16).hexdigest())
    return out


def _candle_fingerprints(frame: pd.DataFrame, y: pd.Series) -> np.ndarray:
    """`[candles, 2]` 64-bit fingerprints of each candle's row (its bits, two independently
    seeded lanes, each changed by any change of the row), computed for all candles at once."""
    columns = [c for c in CANDLE_COLUMNS if c in frame.columns]
    synthetic = (
        frame["synthetic"].to_numpy(dtype=bool)
        if "synthetic" in frame.columns
        else np.zeros(len(frame), bool)
    )
    words = [
        *np.ascontiguousarray(frame[columns].to_numpy(dtype="<f8").T).view("<u8"),
        y.to_numpy(dtype="<f8").view("<u8"),
        pd.DatetimeIndex(frame.index).as_unit("s").asi8.astype("<i8").view("<u8"),
        synthetic.astype("<u8"),
    ]
    lanes = np.empty((len(frame), 2), dtype="<u8")
    for lane, seed in enumerate(_SEEDS):
        state = np.full(len(frame), seed, dtype=np.uint64)
        for word in words:
            state = _mix(state ^ word)
        lanes[:, lane] = state
    return lanes


_SEEDS = (np.uint64(0x9E3779B97F4A7C15), np.uint64(0xD1B54A32D192ED03))


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser, element-wise (uint64 arithmetic wraps)."""
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def span_origins(n: int, spec: FoldSpec) -> np.ndarray:
    """Every position from this run's first backtest origin to the newest candle: this run's
    origins and the next runs' (their origins are this grid moved forward by a candle or a
    few), and the newest candle's own forecast."""
    first = walk_forward(n, spec)[0].origins[0]
    return np.arange(first, n, dtype="int64")


class StoredForecasts:
    """A fitted network's forecasts by origin time for one series: `prime` computes every
    missing one in one batched call (and stores them), `predict_at` looks them up."""

    def __init__(
        self,
        network: _Network,
        model_id: str,
        series: str,
        store: BacktestStore | None,
    ) -> None:
        self.network = network
        self.model_id = model_id
        self.series = series
        self.store = store
        self.reach = lookback(network)
        self.memo: dict[pd.Timestamp, np.ndarray] = {}
        self.computed = 0  # origins this object asked the network for
        self.read = 0  # origins read from the store

    @property
    def horizon(self) -> int:
        return self.network.horizon

    def prime(
        self, frame: pd.DataFrame, y: pd.Series, origins: np.ndarray, *, prune: bool = True
    ) -> None:
        """Make sure a forecast is known for each of `origins` (positions in `frame`), reading
        the store and computing the rest in one call; `prune` drops stored origins before the
        first of `origins`."""
        origins = np.asarray(origins, dtype="int64")
        times = pd.DatetimeIndex(frame.index)[origins]
        digests = input_digests(frame, y, origins, self.reach)
        stored: Stored = {}
        if self.store is not None:
            try:
                stored = self.store.read(self.model_id, self.series)
            except Exception as exc:  # a cache: an unreadable one is recomputed
                log.warning(
                    "%s %s: stored backtest unreadable: %s", self.series, self.model_id, exc
                )
        missing = []
        for position, time, digest in zip(origins, times, digests, strict=True):
            found = stored.get(time)
            if found is not None and found[0] == digest and len(found[1]) == self.network.horizon:
                self.memo[time] = found[1]
                self.read += 1
            else:
                missing.append((position, time, digest))
        if not missing:
            return
        positions = np.asarray([m[0] for m in missing], dtype="int64")
        forecasts = np.asarray(self.network.predict_at(frame, y, positions), dtype="float64")
        self.computed += len(missing)
        new = {}
        for (_, time, digest), forecast in zip(missing, forecasts, strict=True):
            self.memo[time] = forecast
            new[time] = (digest, forecast)
        if self.store is not None:
            try:
                keep_from = times.min() if prune else None
                self.store.write(self.model_id, self.series, new, keep_from=keep_from)
            except Exception as exc:  # a cache: the next run recomputes
                log.warning("%s %s: could not store backtest: %s", self.series, self.model_id, exc)

    def predict_at(self, frame: pd.DataFrame, y: pd.Series, origins: Sequence[int]) -> np.ndarray:
        origins = np.asarray(origins, dtype="int64")
        if len(origins) == 0:
            return np.zeros((0, self.network.horizon))
        times = pd.DatetimeIndex(frame.index)[origins]
        if any(t not in self.memo for t in times):
            self.prime(frame, y, origins[[t not in self.memo for t in times]], prune=False)
        return np.stack([self.memo[t] for t in times])
