"""Prefect events for new anomaly events, so a Prefect automation can notify people.

Each anomaly event that starts in candles no earlier run judged (not one continued from an
earlier run, nor one in the history a series' first run judges: those are recorded only; see
core/anomalies/announce.py) is emitted once as `candlecast.anomaly.detected`, on the resource
`candlecast.series.<series>`, with the series, kind (and its title: "flash crash with
recovery"), severity, start, end, peak score and time,
the reason of the event's own peak flag and a link to the report.
"""

from __future__ import annotations

import logging
from typing import Any

from prefect.events import emit_event

from candlecast.core.anomalies.announce import peak_flag
from candlecast.core.anomalies.market import kind_title
from candlecast.core.results import RunResults

EVENT = "candlecast.anomaly.detected"
log = logging.getLogger("candlecast.events")


def emit_anomaly_events(
    results: RunResults, new_events: dict[str, list[Any]], report: str | None
) -> int:
    """Emit one Prefect event per new anomaly event (by series id); returns how many."""
    sent = 0
    for outcome in results.series:
        for event in new_events.get(outcome.id, []):
            peak = peak_flag(event, outcome.flags)
            payload = {
                "series": outcome.id,
                "kind": event.kind,
                "kind_title": kind_title(event.kind),
                "severity": event.severity,
                "start": str(event.start),
                "end": str(event.end),
                "peak_score": event.peak_score,
                "peak_time": str(peak.timestamp) if peak else None,
                "flags": event.flag_count,
                "reason": peak.reason if peak else "",
                "report": report,
                "run_id": results.run_id,
            }
            try:
                emit_event(
                    event=EVENT,
                    resource={
                        "prefect.resource.id": f"candlecast.series.{outcome.key.slug}",
                        "prefect.resource.name": outcome.id,
                        "candlecast.kind": event.kind,
                        "candlecast.severity": event.severity,
                    },
                    payload=payload,
                )
                sent += 1
            except Exception as exc:  # events are notifications: never fail a recorded run
                log.warning("could not emit %s for %s: %s", EVENT, outcome.id, exc)
    return sent
