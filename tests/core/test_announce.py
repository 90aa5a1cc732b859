"""Which anomaly events a run announces and in whose words (core/anomalies/announce.py),
through the anomaly step of a series (`flag_series`) with the built-in price detector."""

from __future__ import annotations

import pandas as pd
import pytest

from candlecast.core.anomalies import AnomalyEvent, Flag
from candlecast.core.anomalies.announce import peak_flag, to_announce
from candlecast.core.decomposition import decompose_candles
from candlecast.core.pipeline.flagging import flag_series, flag_since
from candlecast.plugins.detectors.irregular import IrregularDetector
from tests.fixtures.series import make_candles

SERIES = "test:BTC/USDT:1h"
DETECTORS = {"irregular": IrregularDetector()}
SETTLE = IrregularDetector().settle


def _planted(n: int, spikes: dict[int, float]) -> pd.DataFrame:
    """`n` hourly candles with the close (and high or low) of each position in `spikes`
    multiplied by its factor."""
    frame = make_candles(n, seed=5)
    for position, factor in spikes.items():
        frame.iloc[position, frame.columns.get_loc("close")] *= factor
        column = "high" if factor > 1 else "low"
        frame.iloc[position, frame.columns.get_loc(column)] *= factor
    return frame


def _detect(frame: pd.DataFrame, since: pd.Timestamp | None, open_events=()):
    return flag_series(
        SERIES,
        "1h",
        frame,
        decompose_candles(frame, "1h"),
        DETECTORS,
        since=since,
        forecasts=None,
        open_events=list(open_events),
        target_fpr=0.002,
    )


def _spikes(events: list[AnomalyEvent]) -> list[pd.Timestamp]:
    return [e.start for e in events if e.kind == "spike"]


@pytest.fixture(scope="module")
def runs():
    """A first run over 900 candles with spikes at 300 and 600 (history) and one at the newest
    candle the detector judges; a second run over 960 candles that adds a rise at 910 and a
    fall at 930."""
    newest_judged = 900 - 1 - SETTLE
    old = {300: 1.25, 600: 1.2, newest_judged: 1.25}
    first_frame = _planted(900, old)
    first = _detect(first_frame, None)
    second_frame = _planted(960, old | {910: 1.3, 930: 0.85})
    since = flag_since(first_frame.index[-1], DETECTORS, "1h")
    second = _detect(second_frame, since, [e for e in first.events if e.open])
    return first_frame, first, second_frame, second, since


def test_a_first_run_records_its_history_and_announces_only_its_newest_candles(runs):
    frame, first, _, _, _ = runs
    recorded = _spikes(first.recorded_only)
    assert frame.index[300] in recorded and frame.index[600] in recorded
    # the newest candle the spike detector judges is what a run on the previous candle
    # would not have judged: its spike is announced
    assert _spikes(first.new_events) == [frame.index[900 - 1 - SETTLE]]
    assert all(e.start > frame.index[900 - SETTLE - 2] for e in first.new_events)
    stored = {(e.kind, e.start) for e in first.events}
    assert {(e.kind, e.start) for e in first.new_events + first.recorded_only} <= stored


def test_a_later_run_announces_what_starts_in_candles_no_earlier_run_judged(runs):
    _, _, frame, second, since = runs
    assert since == frame.index[899 - SETTLE]
    assert _spikes(second.new_events) == [frame.index[910], frame.index[930]]
    assert all(e.start > since for e in second.new_events)
    assert second.recorded_only == []


def test_each_announced_event_is_described_by_its_own_peak_flag(runs):
    _, _, frame, second, _ = runs
    rise, fall = (e for e in second.new_events if e.kind == "spike")
    rise_flag, fall_flag = peak_flag(rise, second.flags), peak_flag(fall, second.flags)
    assert rise_flag.timestamp == frame.index[910] and fall_flag.timestamp == frame.index[930]
    assert rise_flag.score == rise.peak_score and fall_flag.score == fall.peak_score
    assert rise_flag.reason.startswith("Close is +") and fall_flag.reason.startswith("Close is -")
    assert rise_flag.reason != fall_flag.reason
    # the newest spike flag of the run is the fall's; the rise does not borrow its words
    newest = max((f for f in second.flags if f.kind == "spike"), key=lambda f: f.timestamp)
    assert newest is fall_flag


def _flag(hour: int, score: float, reason: str, kind: str = "spike") -> Flag:
    stamp = pd.Timestamp("2024-01-01", tz="UTC") + pd.Timedelta(hours=hour)
    return Flag(SERIES, stamp, kind, "irregular", score, 3.0, "warning", reason)


def _event(first: int, last: int, peak: float, kind: str = "spike") -> AnomalyEvent:
    start = pd.Timestamp("2024-01-01", tz="UTC") + pd.Timedelta(hours=first)
    end = pd.Timestamp("2024-01-01", tz="UTC") + pd.Timedelta(hours=last)
    return AnomalyEvent(SERIES, kind, start, end, peak, "warning", last - first + 1, False)


def test_the_peak_flag_is_the_events_own_highest_of_its_kind():
    flags = [
        _flag(10, 5.0, "ten"),
        _flag(11, 9.0, "eleven"),
        _flag(12, 9.0, "twelve"),  # as high, later: the earlier one is the peak
        _flag(11, 20.0, "another kind", kind="level_shift"),
        _flag(40, 30.0, "another event"),
    ]
    assert peak_flag(_event(10, 12, 9.0), flags).reason == "eleven"
    assert peak_flag(_event(40, 40, 30.0), flags).reason == "another event"
    assert peak_flag(_event(60, 61, 4.0), flags) is None


def test_continued_events_are_neither_announced_nor_recorded_as_new():
    continued = _event(10, 14, 9.0)
    old_start = _event(10, 12, 9.0)  # the same event (series, kind, start) after the last run
    fresh, old = _event(30, 30, 6.0), _event(20, 20, 6.0)
    after = old.start  # an event must start after it to be announced
    announced, recorded = to_announce([continued, fresh, old], [old_start], after)
    assert announced == [fresh] and recorded == [old]
    everything, nothing = to_announce([continued, fresh, old], [old_start], None)
    assert everything == [fresh, old] and nothing == []
