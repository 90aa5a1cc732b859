"""The detector contract: what a detector is given and what it must return.

A detector is any object with a `name`, the `kinds` of flag it raises and
`detect(ctx) -> list[Flag]`, and optionally `settle` (how many later candles it needs before it
judges a candle; 0 when absent). Built-in ones live next to this file; third-party ones arrive
through the `register_detectors` plugin hook.
`run_detectors` runs them and holds them to the contract; `judged_through` says which candle the
next run starts after.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np
import pandas as pd

from candlecast.core.anomalies.calibration import check_fpr
from candlecast.core.anomalies.flag import Flag, utc_timestamp
from candlecast.core.config.sections import DEFAULT_TARGET_FPR
from candlecast.core.decomposition import Decomposition
from candlecast.core.errors import CandlecastError, ConfigError, DataError, PluginError
from candlecast.core.market.candles import require_frame
from candlecast.core.market.timeframes import timeframe_seconds

MIN_CALIBRATION = 200
"""Candles before `since` needed to calibrate on history alone; fewer and all are used."""

FORECAST_COLUMNS = ("target_time", "value")


@dataclass(frozen=True)
class DetectionContext:
    """Everything a detector may look at for one series in one run.

    `candles` is a candle frame (see `core.candles`); `decomposition` is its price
    decomposition (`decompose_candles`, log scale) on the same index. Detectors flag only
    candles after `since` (all when None); the candles up to `since` are the history their
    thresholds are calibrated on. `forecasts` are previously published forecasts: columns
    `target_time`, `value`, and `lower_<level>`/`upper_<level>` pairs (e.g. `lower_95`,
    `upper_95`), optionally `issued_at` (the newest candle the forecast was made from). The
    flow passes the freshest published forecast of each target time (the newest made before
    it: `RunStore.forecasts_for(latest=True)`), not every run's forecast of it.
    """

    series: str
    timeframe: str
    candles: pd.DataFrame
    decomposition: Decomposition
    since: pd.Timestamp | None = None
    target_fpr: float = DEFAULT_TARGET_FPR
    forecasts: pd.DataFrame | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.series, str) or not self.series:
            raise ConfigError(f"series must be a non-empty series id, got {self.series!r}")
        timeframe_seconds(self.timeframe)
        object.__setattr__(self, "candles", require_frame(self.candles))
        object.__setattr__(self, "target_fpr", check_fpr(self.target_fpr))
        if self.since is not None:
            object.__setattr__(self, "since", utc_timestamp(self.since, "since"))
        components = self.decomposition.components
        if len(components) != len(self.candles) or not components.index.equals(self.candles.index):
            raise DataError(
                f"the decomposition covers {len(components)} candles and the candle frame "
                f"{len(self.candles)}: decompose the same candles the detectors look at"
            )
        if self.forecasts is not None:
            missing = [c for c in FORECAST_COLUMNS if c not in self.forecasts.columns]
            if missing:
                raise DataError(
                    f"forecasts lack the column(s) {', '.join(missing)}; they need "
                    f"target_time, value and lower_<level>/upper_<level> pairs"
                )

    @property
    def synthetic(self) -> np.ndarray:
        """True where the candle was gap-filled, never traded."""
        return self.candles["synthetic"].to_numpy(dtype=bool)

    def judged(self, settle: int) -> np.ndarray:
        """Candles a detector with this `settle` judges now: after `since`, at least `settle`
        candles before the newest one."""
        index = self.candles.index
        mask = np.ones(len(index), dtype=bool)
        if self.since is not None:
            mask &= np.asarray(index > self.since)
        if settle > 0:
            mask[max(0, len(index) - settle) :] = False
        return mask

    def calibration(self, usable: np.ndarray | None = None) -> np.ndarray:
        """Candles whose scores calibrate thresholds: traded candles up to `since`, or all
        traded candles when fewer than `MIN_CALIBRATION` precede `since`.

        `usable` further restricts them (e.g. to candles where a score exists).
        """
        traded = ~self.synthetic
        if usable is not None:
            traded &= usable
        if self.since is None:
            return traded
        history = traded & np.asarray(self.candles.index <= self.since)
        return history if history.sum() >= MIN_CALIBRATION else traded


@runtime_checkable
class Detector(Protocol):
    """Finds anomalies of its `kinds` in one series.

    `detect` returns one `Flag` per anomalous candle among `ctx.judged(settle)`, with
    `detector == self.name`, `series == ctx.series` and `kind` in `self.kinds`. Synthetic
    candles are never price anomalies. A detector may also have `settle: int`, the number of
    later candles it needs before it judges a candle (a spike is only a spike once the price
    has come back): the newest `settle` candles are then judged in the next run.
    """

    name: str
    kinds: tuple[str, ...]

    def detect(self, ctx: DetectionContext) -> list[Flag]: ...


def run_detectors(detectors: Iterable[Detector], ctx: DetectionContext) -> list[Flag]:
    """Every detector's flags for `ctx`, checked against the contract, sorted by time.

    A detector that raises anything but a candlecast error, or returns a flag that breaks the
    contract (wrong detector name, series or kind, a candle it may not judge), fails with a
    PluginError naming it.
    """
    flags: list[Flag] = []
    for detector in detectors:
        name = getattr(detector, "name", type(detector).__name__)
        try:
            found = detector.detect(ctx)
        except CandlecastError:
            raise
        except Exception as exc:
            raise PluginError(
                f"detector {name!r} failed on series {ctx.series}: {type(exc).__name__}: {exc}"
            ) from exc
        judged = ctx.candles.index[ctx.judged(settle_of(detector))]
        for flag in found:
            _check(flag, detector, ctx, judged)
        flags.extend(found)
    return sorted(flags, key=lambda f: (f.timestamp, f.detector, f.kind))


def judged_through(ctx: DetectionContext, detectors: Sequence[Detector]) -> pd.Timestamp | None:
    """The newest candle that every detector has judged in this run: the `since` of the next.

    `ctx.since` when this run judged no new candle (None on a first run that judged none).
    """
    index = ctx.candles.index
    settle = max((settle_of(d) for d in detectors), default=0)
    if len(index) <= settle:
        return ctx.since
    newest = index[len(index) - 1 - settle]
    if ctx.since is not None and newest <= ctx.since:
        return ctx.since
    return newest


def settle_of(detector: Detector) -> int:
    """The detector's `settle` (0 when it has none); anything but a count is a PluginError."""
    settle = getattr(detector, "settle", 0)
    if isinstance(settle, bool) or not isinstance(settle, int) or settle < 0:
        raise PluginError(
            f"detector {detector.name!r} has settle={settle!r}; it must be a count of candles "
            f"(0 or more)"
        )
    return settle


def _check(flag: object, detector: Detector, ctx: DetectionContext, judged: pd.Index) -> None:
    name = detector.name
    if not isinstance(flag, Flag):
        raise PluginError(f"detector {name!r} returned {type(flag).__name__}, expected Flag")
    problems = []
    if flag.detector != name:
        problems.append(f"detector {flag.detector!r} (should be {name!r})")
    if flag.series != ctx.series:
        problems.append(f"series {flag.series!r} (should be {ctx.series!r})")
    if flag.kind not in detector.kinds:
        problems.append(f"kind {flag.kind!r} (allowed: {', '.join(detector.kinds)})")
    if flag.timestamp not in judged:
        problems.append(
            f"timestamp {flag.timestamp} (allowed: candles after since={ctx.since} and at least "
            f"settle={settle_of(detector)} candles before the newest)"
        )
    if problems:
        raise PluginError(f"detector {name!r} returned a flag with {'; '.join(problems)}")
