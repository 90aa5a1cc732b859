"""The last stage of a series' run, its anomaly step: the newest candles since the last run are
judged by every detector, the flags on one candle merge into one flag with a calibrated score
(`core/anomalies/merge.py`), flags merge into events, and an event still open from the last run
continues, under its kind (`events.continue_kinds`). The per-candle calibrated score of the
detectors that have one (`rarity(ctx)`: the streaming ones) is kept too: the NAB bench reads
it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import pandas as pd

from candlecast.core.anomalies.announce import announce_after, to_announce
from candlecast.core.anomalies.detector import DetectionContext, judged_through, run_detectors
from candlecast.core.anomalies.events import continue_kinds, merge_events
from candlecast.core.anomalies.flag import AnomalyEvent, Flag
from candlecast.core.anomalies.market import ESCALATIONS
from candlecast.core.anomalies.merge import merge_flags
from candlecast.core.decomposition import Decomposition
from candlecast.core.errors import CandlecastError
from candlecast.core.market.timeframes import timeframe_offset


@dataclass
class Detection:
    """One series' anomaly step: its flags, the events they make (open ones continued), which
    of those events started in this run in candles no earlier run judged (to be announced), and
    which started in this run in older candles (a first run's history: recorded, not
    announced; see `core/anomalies/announce.py`)."""

    flags: list[Flag]
    events: list[AnomalyEvent]
    new_events: list[AnomalyEvent]
    failures: dict[str, str] = field(default_factory=dict)  # detector -> why it could not run
    recorded_only: list[AnomalyEvent] = field(default_factory=list)
    rarity: pd.Series | None = None  # per candle: the highest streaming detector's rarity


def flag_since(
    last_origin: pd.Timestamp | None, detectors: Mapping[str, object], timeframe: str
) -> pd.Timestamp | None:
    """Judge from the candle after the last run's newest one, less what detectors left to
    settle then (they judge those candles now)."""
    if last_origin is None:
        return None
    settle = max((getattr(d, "settle", 0) for d in detectors.values()), default=0)
    return last_origin - timeframe_offset(timeframe) * settle


def flag_series(
    series: str,
    timeframe: str,
    candles: pd.DataFrame,
    decomposition: Decomposition,
    detectors: Mapping[str, object],
    *,
    since: pd.Timestamp | None,
    forecasts: pd.DataFrame | None,
    open_events: list[AnomalyEvent],
    target_fpr: float,
    merge: bool = False,
) -> Detection:
    """Flags of the newest candles, the events they make (open events continued), and which
    of those events are new: started in this run, announced when they start in candles no
    earlier run judged. With `merge`, the flags on one candle become one flag whose score is a
    rarity (comparable across detectors and series)."""
    context = DetectionContext(
        series=series,
        timeframe=timeframe,
        candles=candles,
        decomposition=decomposition,
        since=since,
        target_fpr=target_fpr,
        forecasts=forecasts if forecasts is not None and not forecasts.empty else None,
    )
    flags: list[Flag] = []
    failures: dict[str, str] = {}
    ran = []
    rarities: list[pd.Series] = []
    for name, detector in detectors.items():  # each on its own: one failing stops no other
        try:
            flags += run_detectors([detector], context)
            ran.append(detector)
            if callable(getattr(detector, "rarity", None)):
                rarities.append(detector.rarity(context))  # type: ignore[attr-defined]
        except CandlecastError as exc:
            failures[name] = str(exc)
    if merge:
        scales = {getattr(d, "name", ""): getattr(d, "score_scale", None) for d in ran}
        flags = merge_flags(flags, target_fpr, scales)
    families = [getattr(d, "kinds", ()) for d in ran]
    flags = continue_kinds(flags, open_events, families, timeframe, keep=ESCALATIONS)
    flags.sort(key=lambda f: (f.timestamp, f.detector, f.kind))
    rarity = pd.concat(rarities, axis=1).max(axis=1) if rarities else None
    # events with no flag up to what was judged this run are closed
    events = merge_events(flags, timeframe, open_events, as_of=judged_through(context, ran))
    announced, recorded = to_announce(events, open_events, announce_after(context, ran))
    return Detection(flags, events, announced, failures, recorded, rarity)
