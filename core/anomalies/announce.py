"""Which anomaly events a run announces, and in whose words.

A run stores every event it finds, but it announces (as a notification) only the events that
start in candles no earlier run has judged: on later runs, the candles after the last run's
`since` (see `flagging.flag_since`); on a series' first run, which judges its whole history, only
the newest candles, the ones a run on the previous candle would not have judged. An event that
continues from an earlier run keeps its start and is never announced again.

An announced event is described by its own peak flag: the flag of its series and kind, within
its start and end, with the highest score.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import pandas as pd

from candlecast.core.anomalies.detector import DetectionContext, Detector, settle_of
from candlecast.core.anomalies.flag import AnomalyEvent, Flag


def announce_after(ctx: DetectionContext, detectors: Sequence[Detector]) -> pd.Timestamp | None:
    """The newest candle an earlier run judged, or would have judged had it run on the
    previous candle: events starting after it are announced. None: every event is (a series
    shorter than the detectors' settle plus two candles)."""
    if ctx.since is not None:
        return ctx.since
    index = ctx.candles.index
    settle = max((settle_of(d) for d in detectors), default=0)
    if len(index) < settle + 2:
        return None
    # a run on the previous candle judged up to `settle` candles before it
    return index[len(index) - settle - 2]


def to_announce(
    events: Iterable[AnomalyEvent],
    open_before: Iterable[AnomalyEvent],
    after: pd.Timestamp | None,
) -> tuple[list[AnomalyEvent], list[AnomalyEvent]]:
    """The events that started in this run, split into those to announce (starting after
    `after`) and those only recorded (older; a first run's history). Events continued from
    `open_before` are in neither."""
    before = {(e.series, e.kind, e.start) for e in open_before}
    started = [e for e in events if (e.series, e.kind, e.start) not in before]
    announced = [e for e in started if after is None or e.start > after]
    recorded = [e for e in started if not (after is None or e.start > after)]
    return announced, recorded


def peak_flag(event: AnomalyEvent, flags: Iterable[Flag]) -> Flag | None:
    """The event's own flag at its peak: its series and kind, between its start and end, the
    highest score (the earliest of equal ones). None when no such flag is given."""
    own = [
        f
        for f in flags
        if f.series == event.series
        and f.kind == event.kind
        and event.start <= f.timestamp <= event.end
    ]
    if not own:
        return None
    return max(own, key=lambda f: (f.score, -f.timestamp.value))
