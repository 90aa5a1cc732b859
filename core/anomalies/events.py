"""Events: consecutive flags of one kind on one series, one start to one end.

Flags belong to one event while they are at most `max_gap` candles apart. An event that reaches
the newest judged candle is open: the next run's flags can still join it, and then it keeps its
start (its identity, with the series and the kind) and grows, so that an event continuing
across runs stays one event.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable, Sequence
from dataclasses import replace

import pandas as pd

from candlecast.core.anomalies.flag import (
    AnomalyEvent,
    Flag,
    Severity,
    severity_rank,
    utc_timestamp,
)
from candlecast.core.errors import ConfigError
from candlecast.core.market.timeframes import timeframe_offset

DEFAULT_MAX_GAP = 2
"""Flags this many candles apart or closer are one event (one unflagged candle may fall between)."""


def merge_events(
    flags: Iterable[Flag],
    timeframe: str,
    previous_open_events: Sequence[AnomalyEvent] = (),
    *,
    as_of: pd.Timestamp | None = None,
    max_gap: int = DEFAULT_MAX_GAP,
) -> list[AnomalyEvent]:
    """Events to store after a run: the new ones and every previous open one, updated.

    `previous_open_events` are the events that were open after the last run; a flag that
    continues one extends it (same start). `as_of` is the newest candle this run judged
    (`judged_through`); an event ending within `max_gap - 1` candles of it stays open. Without
    `as_of`, the newest flag or event end is used. `flag_count` counts flagged candles; flags
    at or before an event's stored end are taken as already counted.
    """
    if isinstance(max_gap, bool) or not isinstance(max_gap, int) or max_gap < 1:
        raise ConfigError(f"max_gap must be a positive number of candles, got {max_gap!r}")
    step = timeframe_offset(timeframe)
    gap = step * max_gap
    by_key: dict[tuple[str, str], list[Flag]] = defaultdict(list)
    for flag in flags:
        by_key[(flag.series, flag.kind)].append(flag)
    previous: dict[tuple[str, str], list[AnomalyEvent]] = defaultdict(list)
    for event in previous_open_events:
        previous[(event.series, event.kind)].append(event)

    ends = [flag.timestamp for group in by_key.values() for flag in group]
    ends += [event.end for event in previous_open_events]
    if as_of is not None:
        newest = utc_timestamp(as_of, "as_of")
    elif ends:
        newest = max(ends)
    else:
        return []

    events: list[AnomalyEvent] = []
    for key in sorted(set(by_key) | set(previous)):
        series, kind = key
        open_before = sorted(previous.get(key, []), key=lambda e: e.start)
        for run in _runs(by_key.get(key, []), gap):
            target = next(
                (
                    e
                    for e in open_before
                    if run[0].timestamp - e.end <= gap and run[-1].timestamp >= e.start
                ),
                None,
            )
            if target is None:
                open_before.append(_event(series, kind, run, newest, gap - step))
                open_before.sort(key=lambda e: e.start)
                continue
            open_before[open_before.index(target)] = _extend(target, run)
        for event in open_before:
            still_open = newest - event.end <= gap - step
            events.append(_with_open(event, still_open))
    return sorted(events, key=lambda e: (e.series, e.kind, e.start))


def continue_kinds(
    flags: Iterable[Flag],
    open_events: Sequence[AnomalyEvent],
    families: Iterable[Iterable[str]],
    timeframe: str,
    *,
    keep: Collection[str] = (),
    max_gap: int = DEFAULT_MAX_GAP,
) -> list[Flag]:
    """`flags` (sorted by time), where a chain of flags that continues an event the previous
    run left open (each at most `max_gap` candles after the one before, the first after the
    event's end) takes the event's kind, when both kinds are of one family (the kinds one
    detector names). One anomaly is one kind: a detector names a run of alarms at its first
    candle, and a later run, scoring on a window that moved, may see that first candle
    differently. Flags of a kind in `keep` keep it (an anomaly can turn into one: a burst
    that opened with one large move), and the chain carries on under that kind."""
    family_of = {kind: number for number, kinds in enumerate(families) for kind in kinds}
    gap = timeframe_offset(timeframe) * max_gap
    chains: dict[tuple[str, int], tuple[str, pd.Timestamp]] = {}
    for event in open_events:
        family = family_of.get(event.kind)
        if family is not None:
            chains[(event.series, family)] = (event.kind, event.end)
    result = []
    for flag in sorted(flags, key=lambda f: f.timestamp):
        family = family_of.get(flag.kind)
        chain = chains.get((flag.series, family)) if family is not None else None
        if chain is not None and _continues(flag.timestamp - chain[1], gap):
            if flag.kind != chain[0] and flag.kind not in keep:
                flag = replace(flag, kind=chain[0])
            chains[(flag.series, family)] = (flag.kind, max(chain[1], flag.timestamp))
        result.append(flag)
    return result


def _continues(delta: pd.Timedelta, gap: pd.Timedelta) -> bool:
    """A flag `delta` after a chain's last candle continues it (later, at most `gap`)."""
    return pd.Timedelta(0) < delta <= gap


def _runs(flags: list[Flag], gap: pd.Timedelta) -> list[list[Flag]]:
    """Flags sorted by time, cut where two consecutive ones are more than `gap` apart."""
    ordered = sorted(flags, key=lambda f: f.timestamp)
    runs: list[list[Flag]] = []
    for flag in ordered:
        if runs and flag.timestamp - runs[-1][-1].timestamp <= gap:
            runs[-1].append(flag)
        else:
            runs.append([flag])
    return runs


def _max_severity(severities: Iterable[Severity]) -> Severity:
    return max(severities, key=severity_rank)


def _event(
    series: str, kind: str, run: list[Flag], newest: pd.Timestamp, open_span: pd.Timedelta
) -> AnomalyEvent:
    return AnomalyEvent(
        series=series,
        kind=kind,
        start=run[0].timestamp,
        end=run[-1].timestamp,
        peak_score=max(f.score for f in run),
        severity=_max_severity(f.severity for f in run),
        flag_count=len({f.timestamp for f in run}),
        open=newest - run[-1].timestamp <= open_span,
    )


def _extend(event: AnomalyEvent, run: list[Flag]) -> AnomalyEvent:
    new_times = {f.timestamp for f in run if f.timestamp > event.end}
    return AnomalyEvent(
        series=event.series,
        kind=event.kind,
        start=min(event.start, run[0].timestamp),
        end=max(event.end, run[-1].timestamp),
        peak_score=max(event.peak_score, *(f.score for f in run)),
        severity=_max_severity([event.severity, *(f.severity for f in run)]),
        flag_count=event.flag_count + len(new_times),
        open=event.open,
    )


def _with_open(event: AnomalyEvent, still_open: bool) -> AnomalyEvent:
    if event.open == still_open:
        return event
    return AnomalyEvent(
        series=event.series,
        kind=event.kind,
        start=event.start,
        end=event.end,
        peak_score=event.peak_score,
        severity=event.severity,
        flag_count=event.flag_count,
        open=still_open,
    )
