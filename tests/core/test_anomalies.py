"""Anomaly detectors: planted anomalies get the right kind, clean candles raise flags at about
the target rate, synthetic candles are never flagged, breaches, events across runs, the
detector contract and the calibration underneath."""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest

from candlecast.core.anomalies import (
    AnomalyEvent,
    DetectionContext,
    Detector,
    Flag,
    calibrate,
    continue_kinds,
    judged_through,
    merge_events,
    run_detectors,
)
from candlecast.core.anomalies.market import ESCALATIONS
from candlecast.core.config import AnomalyConfig
from candlecast.core.config.sections import DEFAULT_TARGET_FPR
from candlecast.core.decomposition import Decomposition, decompose_candles
from candlecast.core.errors import ConfigError, DataError, PluginError
from candlecast.plugins.detectors.breach import BreachDetector
from candlecast.plugins.detectors.irregular import IrregularDetector
from candlecast.plugins.detectors.volume import VolumeDetector
from tests.fixtures.series import make_candles

SERIES = "test:BTC/USDT:1h"
HOUR = pd.Timedelta("1h")
PRICE_DETECTORS = (IrregularDetector(),)


def context(
    frame: pd.DataFrame,
    since: int | None,
    *,
    fpr: float = 0.002,
    forecasts: pd.DataFrame | None = None,
) -> DetectionContext:
    """A context over `frame` that judges the candles after position `since`."""
    return DetectionContext(
        series=SERIES,
        timeframe="1h",
        candles=frame,
        decomposition=decomposed(frame),
        since=None if since is None else frame.index[since],
        target_fpr=fpr,
        forecasts=forecasts,
    )


def flags_near(flags: list[Flag], frame: pd.DataFrame, first: int, last: int) -> Counter[str]:
    """Kinds flagged on candles `first`..`last` (positions)."""
    start, end = frame.index[first], frame.index[last]
    return Counter(f.kind for f in flags if start <= f.timestamp <= end)


_DECOMPOSED: dict[int, tuple[pd.DataFrame, Decomposition]] = {}


def decomposed(frame: pd.DataFrame) -> Decomposition:
    """`decompose_candles(frame)`, computed once for a frame object that is used again."""
    cached = _DECOMPOSED.get(id(frame))
    if cached is None or cached[0] is not frame:
        cached = (frame, decompose_candles(frame, "1h"))
        _DECOMPOSED[id(frame)] = cached
    return cached[1]


@pytest.fixture(scope="module")
def candles() -> pd.DataFrame:
    """3,000 hourly candles: a daily cycle, noise of 0.2% a candle, a daily volume cycle.
    Shared by the tests of this module: a test that changes candles changes a copy."""
    return make_candles(3000, seed=11)


# -- planted anomalies, right kinds ------------------------------------------------------------


def test_a_planted_spike_is_flagged_as_a_spike(candles: pd.DataFrame) -> None:
    frame = candles.copy()
    frame.iloc[2500, frame.columns.get_loc("close")] *= 1.03  # 15 noise sigmas, one candle

    flags = run_detectors(PRICE_DETECTORS, context(frame, 1999))

    at = [f for f in flags if f.timestamp == frame.index[2500]]
    assert [f.kind for f in at] == ["spike"]
    assert at[0].score >= at[0].threshold
    assert at[0].severity == "critical"
    assert "+3.0% away from the 5-candle median level" in at[0].reason
    assert flags_near(flags, frame, 2490, 2510) == Counter(spike=1)


def test_a_planted_level_shift_is_flagged_as_a_level_shift(candles: pd.DataFrame) -> None:
    frame = candles.copy()
    for column in ("open", "high", "low", "close"):
        frame.iloc[2500:, frame.columns.get_loc(column)] *= 1.03  # and it stays

    flags = run_detectors(PRICE_DETECTORS, context(frame, 1999))

    at = [f for f in flags if f.timestamp == frame.index[2500]]
    assert [f.kind for f in at] == ["level_shift"]
    assert re.search(
        r"^Level moved \+(2\.[89]|3\.[01])% at this candle and held: the median of the 5 "
        r"candles from here is \+(2\.9|3\.0|3\.1)% from that of the 5 before",
        at[0].reason,
    )
    assert flags_near(flags, frame, 2490, 2510) == Counter(level_shift=1)


def test_a_planted_variance_burst_is_flagged_as_a_variance_burst(candles: pd.DataFrame) -> None:
    frame = candles.copy()
    rng = np.random.default_rng(5)
    burst = slice(2500, 2536)
    frame.iloc[burst, frame.columns.get_loc("close")] *= np.exp(rng.normal(0, 0.008, 36))

    flags = run_detectors(PRICE_DETECTORS, context(frame, 1999))

    kinds = flags_near(flags, frame, 2500, 2548)
    assert kinds["variance_burst"] >= 8
    assert kinds["spike"] + kinds["level_shift"] <= 1
    events = merge_events(flags, "1h", as_of=frame.index[-3])
    bursts = [e for e in events if e.kind == "variance_burst" and e.start <= frame.index[2548]]
    assert len([e for e in bursts if e.end >= frame.index[2500]]) == 1


def test_a_volume_spike_is_measured_against_the_volume_of_that_hour(
    candles: pd.DataFrame,
) -> None:
    frame = candles.copy()
    volume = frame["volume"].to_numpy().copy()
    quiet = 2514  # 18:00, the bottom of the fixture's daily volume cycle
    assert volume[quiet] < np.median(volume[2500:2524])
    frame.iloc[quiet, frame.columns.get_loc("volume")] *= 2.0  # still below the busy hours
    assert frame["volume"].iloc[quiet] < volume[2500:2524].max()

    flags = run_detectors([VolumeDetector()], context(frame, 1999))

    at = [f for f in flags if f.timestamp == frame.index[quiet]]
    assert [f.kind for f in at] == ["volume_spike"]
    # 2x a volume that itself is within its noise (sd 10%) of the usual for 18:00.
    assert 1.6 <= re_ratio(at[0].reason) <= 2.5
    assert not [
        f
        for f in flags
        if frame.index[2500] <= f.timestamp < frame.index[2524]
        and f.timestamp != frame.index[quiet]
    ]


def re_ratio(reason: str) -> float:
    """The "N.Nx the usual" figure of a volume reason."""
    return float(reason.split("x the usual")[0].rsplit(" ", 1)[1])


# -- clean candles: flags at about the target rate --------------------------------------------


def test_clean_candles_raise_flags_at_about_the_target_rate() -> None:
    fpr = 0.003
    detectors = [IrregularDetector(), VolumeDetector()]
    alarms: Counter[str] = Counter()
    judged = 0
    for seed in (0, 1, 2):
        frame = make_candles(6000, seed=seed)
        ctx = context(frame, 2999, fpr=fpr)
        flags = run_detectors(detectors, ctx)
        through = judged_through(ctx, detectors)
        alarms.update(e.kind for e in merge_events(flags, "1h", as_of=through))
        judged += int(((frame.index > ctx.since) & (frame.index <= through)).sum())

    rates = {kind: alarms[kind] / judged / fpr for kind in ("spike", "variance_burst")}
    rates["volume_spike"] = alarms["volume_spike"] / judged / fpr
    for kind, rate in rates.items():
        assert 0.5 <= rate <= 2.0, (kind, rate)
    # Noise around a daily cycle has no level shifts to find; none is made up either.
    assert alarms["level_shift"] / judged <= 2 * fpr


# -- synthetic candles -------------------------------------------------------------------------


def test_synthetic_candles_are_never_flagged(candles: pd.DataFrame) -> None:
    frame = candles.copy()
    gap = slice(2500, 2506)
    before = frame["close"].iloc[2499]
    frame.iloc[gap, frame.columns.get_loc("synthetic")] = True
    for column in ("open", "high", "low", "close"):
        frame.iloc[gap, frame.columns.get_loc(column)] = before
    frame.iloc[gap, frame.columns.get_loc("volume")] = 0.0
    frame.iloc[2503, frame.columns.get_loc("close")] = before * 1.05  # a wild filled value
    frame.iloc[2504, frame.columns.get_loc("volume")] = 1e6
    forecasts = pd.DataFrame(
        {
            "target_time": frame.index[2490:2510],
            "value": before,
            "lower_95": before * 0.999,
            "upper_95": before * 1.001,
        }
    )

    detectors = [IrregularDetector(), VolumeDetector(), BreachDetector()]
    flags = run_detectors(detectors, context(frame, 1999, forecasts=forecasts))

    synthetic = set(frame.index[gap])
    assert not [f for f in flags if f.timestamp in synthetic]
    # The traded candles around the gap are still judged (the tight forecast misses them).
    assert any(f.kind == "forecast_breach" for f in flags)


# -- forecast breaches -------------------------------------------------------------------------


def breach_forecasts(
    frame: pd.DataFrame, positions: range, error: np.ndarray | None = None
) -> pd.DataFrame:
    """Forecasts of the closes at `positions` (times exp(`error`), exact by default), with
    95% and 80% intervals of +-1% and +-0.6% around the forecast."""
    value = frame["close"].iloc[list(positions)].to_numpy()
    if error is not None:
        value = value * np.exp(error)
    return pd.DataFrame(
        {
            "target_time": frame.index[list(positions)],
            "issued_at": frame.index[list(positions)] - HOUR,
            "value": value,
            "lower_80": value * 0.994,
            "upper_80": value * 1.006,
            "lower_95": value * 0.99,
            "upper_95": value * 1.01,
        }
    )


def test_a_close_far_outside_the_published_interval_is_a_breach(candles: pd.DataFrame) -> None:
    forecasts = breach_forecasts(candles, range(2960, 2990))
    forecasts.loc[5, "value"] *= 1.04  # actual 4% below: 4 half-widths of the 95% interval
    forecasts.loc[5, ["lower_95", "upper_95"]] *= 1.04
    forecasts.loc[9, "value"] *= 0.988  # actual 1.2% above: outside, but only 1.2 half-widths
    forecasts.loc[9, ["lower_95", "upper_95"]] *= 0.988

    flags = run_detectors([BreachDetector()], context(candles, 2959, forecasts=forecasts))

    assert [f.timestamp for f in flags] == [candles.index[2965]]
    flag = flags[0]
    assert flag.kind == "forecast_breach"
    assert flag.score == pytest.approx(1.04 / 1.04 * (1 - 1 / 1.04) / 0.01, rel=1e-6)
    # Too few earlier forecasts to calibrate on: normal tails for 1 in 500 at the 95% level.
    assert flag.threshold == pytest.approx(3.0902 / 1.9600, rel=1e-3)
    assert "is below the 95% interval" in flag.reason


def test_breaches_use_the_freshest_forecast_for_each_candle(candles: pd.DataFrame) -> None:
    fresh = breach_forecasts(candles, range(2960, 2990))
    stale = fresh.copy()
    stale["issued_at"] -= 10 * HOUR
    stale[["value", "lower_95", "upper_95", "lower_80", "upper_80"]] *= 1.05  # all breached
    forecasts = pd.concat([fresh, stale], ignore_index=True)  # the stale ones come last

    assert run_detectors([BreachDetector()], context(candles, 2959, forecasts=forecasts)) == []


def test_breach_thresholds_are_calibrated_on_earlier_forecasts(candles: pd.DataFrame) -> None:
    rng = np.random.default_rng(2)
    error = rng.normal(0, 0.005, 990)  # half a 95% half-width: |score| is half-normal(0.5)
    forecasts = breach_forecasts(candles, range(2000, 2990), error)
    detector = BreachDetector()
    ctx = context(candles, 2959, fpr=0.01, forecasts=forecasts)

    threshold = detector.threshold(ctx, detector.scores(ctx))

    assert threshold.method == "empirical quantile of 960 scores"
    assert threshold.value == pytest.approx(0.5 * 2.576, abs=0.15)
    assert threshold.value < threshold.warning < threshold.critical


def test_forecasts_without_an_interval_are_a_data_error(candles: pd.DataFrame) -> None:
    forecasts = pd.DataFrame({"target_time": candles.index[-5:], "value": 1.0, "lower_95": 0.9})
    with pytest.raises(DataError, match="no lower_<level>/upper_<level> column pair"):
        run_detectors([BreachDetector()], context(candles, 2959, forecasts=forecasts))


# -- events ------------------------------------------------------------------------------------

T0 = pd.Timestamp("2024-03-01 00:00", tz="UTC")


def flag_at(hours: int, kind: str = "spike", score: float = 5.0, severity: str = "info") -> Flag:
    return Flag(SERIES, T0 + hours * HOUR, kind, "irregular", score, 4.0, severity, "because")


def test_consecutive_flags_of_one_kind_merge_into_events() -> None:
    flags = [flag_at(h) for h in (0, 1, 3)] + [flag_at(10)] + [flag_at(2, kind="level_shift")]

    events = merge_events(flags, "1h", as_of=T0 + 20 * HOUR)

    assert [(e.kind, e.start, e.end, e.flag_count, e.open) for e in events] == [
        ("level_shift", T0 + 2 * HOUR, T0 + 2 * HOUR, 1, False),
        ("spike", T0, T0 + 3 * HOUR, 3, False),
        ("spike", T0 + 10 * HOUR, T0 + 10 * HOUR, 1, False),
    ]


def test_an_event_that_continues_across_runs_stays_one_event() -> None:
    first = merge_events([flag_at(5, score=6.0), flag_at(6, score=7.0)], "1h", as_of=T0 + 6 * HOUR)
    assert [(e.start, e.end, e.flag_count, e.open) for e in first] == [
        (T0 + 5 * HOUR, T0 + 6 * HOUR, 2, True)
    ]

    second = merge_events(
        [flag_at(7, score=9.0, severity="critical"), flag_at(8)],
        "1h",
        first,
        as_of=T0 + 8 * HOUR,
    )
    assert [(e.start, e.end, e.flag_count, e.peak_score, e.severity, e.open) for e in second] == [
        (T0 + 5 * HOUR, T0 + 8 * HOUR, 4, 9.0, "critical", True)
    ]

    third = merge_events([], "1h", second, as_of=T0 + 12 * HOUR)
    assert [(e.start, e.end, e.flag_count, e.open) for e in third] == [
        (T0 + 5 * HOUR, T0 + 8 * HOUR, 4, False)
    ]


def test_a_new_event_after_a_gap_does_not_join_the_open_one() -> None:
    first = merge_events([flag_at(5)], "1h", as_of=T0 + 6 * HOUR)
    assert first[0].open

    second = merge_events([flag_at(9)], "1h", first, as_of=T0 + 9 * HOUR)

    assert [(e.start, e.end, e.open) for e in second] == [
        (T0 + 5 * HOUR, T0 + 5 * HOUR, False),
        (T0 + 9 * HOUR, T0 + 9 * HOUR, True),
    ]


def test_a_run_that_judges_candles_already_counted_does_not_count_them_twice() -> None:
    first = merge_events([flag_at(5), flag_at(6)], "1h", as_of=T0 + 6 * HOUR)

    again = merge_events([flag_at(6), flag_at(7)], "1h", first, as_of=T0 + 7 * HOUR)

    assert [(e.start, e.end, e.flag_count) for e in again] == [(T0 + 5 * HOUR, T0 + 7 * HOUR, 3)]


PRICE_FAMILY = ("flash_crash", "spike", "level_shift", "volatility_burst")


def test_flags_that_continue_an_open_event_take_its_kind() -> None:
    """One anomaly, one kind: a later run that names its continuation otherwise (its window
    moved, so the alarm run's first candle may differ) does not split it in two."""
    (crash,) = merge_events([flag_at(5, "flash_crash")], "1h", as_of=T0 + 5 * HOUR)
    flags = [flag_at(6, "level_shift"), flag_at(8, "level_shift"), flag_at(12, "level_shift")]
    flags.append(flag_at(7, "volume_spike"))  # another detector's kind: not its anomaly

    continued = continue_kinds(flags, [crash], [PRICE_FAMILY, ("volume_spike",)], "1h")

    assert [(f.timestamp, f.kind) for f in continued] == [
        (T0 + 6 * HOUR, "flash_crash"),
        (T0 + 7 * HOUR, "volume_spike"),
        (T0 + 8 * HOUR, "flash_crash"),  # two candles after the last: the chain goes on
        (T0 + 12 * HOUR, "level_shift"),  # past the gap: a new anomaly
    ]
    events = merge_events(continued, "1h", [crash], as_of=T0 + 12 * HOUR)
    assert [(e.kind, e.start, e.end, e.flag_count) for e in events if e.kind != "volume_spike"] == [
        ("flash_crash", T0 + 5 * HOUR, T0 + 8 * HOUR, 3),
        ("level_shift", T0 + 12 * HOUR, T0 + 12 * HOUR, 1),
    ]


def test_an_anomaly_that_turns_into_a_burst_keeps_the_burst_kind_across_runs() -> None:
    (spike,) = merge_events([flag_at(5, "spike")], "1h", as_of=T0 + 5 * HOUR)
    flags = [flag_at(6, "volatility_burst"), flag_at(7, "level_shift")]

    continued = continue_kinds(flags, [spike], [PRICE_FAMILY], "1h", keep=ESCALATIONS)

    assert [f.kind for f in continued] == ["volatility_burst", "volatility_burst"]
    # without an open event nothing is renamed
    assert continue_kinds(flags, [], [PRICE_FAMILY], "1h") == flags


def test_flags_across_runs_through_the_detectors_continue_one_event(
    candles: pd.DataFrame,
) -> None:
    frame = candles.copy()
    rng = np.random.default_rng(5)
    frame.iloc[2500:2560, frame.columns.get_loc("close")] *= np.exp(rng.normal(0, 0.008, 60))
    detectors = [IrregularDetector()]

    # Run 1 sees the candles up to the middle of the burst, run 2 the rest.
    first_frame = frame.iloc[:2530]
    ctx = context(first_frame, 1999)
    first = run_detectors(detectors, ctx)
    through = judged_through(ctx, detectors)
    assert through == first_frame.index[-3]
    events = merge_events(first, "1h", as_of=through)
    open_bursts = [e for e in events if e.kind == "variance_burst" and e.open]
    assert len(open_bursts) == 1

    ctx = DetectionContext(
        SERIES, "1h", frame, decompose_candles(frame, "1h"), since=through, target_fpr=0.002
    )
    second = run_detectors(detectors, ctx)
    assert min(f.timestamp for f in second) > through
    continued = merge_events(second, "1h", open_bursts, as_of=judged_through(ctx, detectors))

    bursts = [e for e in continued if e.kind == "variance_burst" and e.start < frame.index[2580]]
    assert len(bursts) == 1
    assert bursts[0].start == open_bursts[0].start
    assert bursts[0].end > open_bursts[0].end
    assert not bursts[0].open


# -- the detector contract ---------------------------------------------------------------------


@dataclass(frozen=True)
class EveryTenth:
    """A third-party-style detector (no `settle`: it judges candles at once): flags every
    tenth judged candle."""

    name: str = "every_tenth"
    kinds: tuple[str, ...] = ("tenth",)
    kind: str = "tenth"
    detector: str = "every_tenth"

    def detect(self, ctx: DetectionContext) -> list[Flag]:
        judged = ctx.candles.index[ctx.judged(0)]
        return [
            Flag(ctx.series, t, self.kind, self.detector, 1.0, 1.0, "info", "Tenth candle.")
            for t in judged[::10]
        ]


def test_any_object_meeting_the_protocol_runs_as_a_detector(candles: pd.DataFrame) -> None:
    detector = EveryTenth()
    assert isinstance(detector, Detector)
    assert isinstance(IrregularDetector(), Detector)

    flags = run_detectors([detector], context(candles, 2899))

    assert len(flags) == 10
    assert flags[0].timestamp == candles.index[2900]
    assert judged_through(context(candles, 2899), [detector]) == candles.index[-1]


@pytest.mark.parametrize(
    ("detector", "message"),
    [
        (EveryTenth(kind="other"), "kind 'other' (allowed: tenth)"),
        (EveryTenth(detector="impostor"), "detector 'impostor' (should be 'every_tenth')"),
    ],
)
def test_flags_that_break_the_contract_are_plugin_errors(
    candles: pd.DataFrame, detector: EveryTenth, message: str
) -> None:
    with pytest.raises(PluginError, match=r"detector 'every_tenth' returned a flag with") as error:
        run_detectors([detector], context(candles, 2899))
    assert message in str(error.value)


def test_a_flag_on_a_candle_not_to_be_judged_is_a_plugin_error(candles: pd.DataFrame) -> None:
    class Eager(EveryTenth):
        def detect(self, ctx: DetectionContext) -> list[Flag]:
            return [
                Flag(ctx.series, ctx.candles.index[0], "tenth", "every_tenth", 1, 1, "info", "x")
            ]

    with pytest.raises(PluginError, match="timestamp 2024-01-01 00:00:00"):
        run_detectors([Eager()], context(candles, 2899))


def test_a_crashing_detector_is_a_plugin_error_naming_it(candles: pd.DataFrame) -> None:
    class Broken(EveryTenth):
        def detect(self, ctx: DetectionContext) -> list[Flag]:
            raise ZeroDivisionError("oops")

    with pytest.raises(PluginError, match=r"detector 'every_tenth' failed on series .*oops"):
        run_detectors([Broken()], context(candles, 2899))


def test_judged_through_leaves_the_unsettled_candles_for_the_next_run(
    candles: pd.DataFrame,
) -> None:
    ctx = context(candles, 2899)
    assert judged_through(ctx, [VolumeDetector()]) == candles.index[-1]
    assert judged_through(ctx, [VolumeDetector(), IrregularDetector()]) == candles.index[-3]
    last = context(candles, len(candles) - 2)
    assert judged_through(last, [IrregularDetector()]) == last.since


def test_context_rejects_a_decomposition_of_other_candles(candles: pd.DataFrame) -> None:
    with pytest.raises(DataError, match="the decomposition covers 2000 candles and the candle"):
        DetectionContext(SERIES, "1h", candles, decompose_candles(candles.iloc[:2000], "1h"))


def test_a_context_without_a_rate_takes_the_configured_default(candles: pd.DataFrame) -> None:
    """One default rate, in one place: a context built without one, the configuration and the
    default configuration file agree."""
    decomposition = decompose_candles(candles.iloc[:200], "1h")
    ctx = DetectionContext(SERIES, "1h", candles.iloc[:200], decomposition)
    assert ctx.target_fpr == AnomalyConfig().target_fpr == DEFAULT_TARGET_FPR


@pytest.mark.parametrize("fpr", [0.0, 0.5, -0.1, True])
def test_context_rejects_a_target_rate_outside_zero_to_a_half(
    candles: pd.DataFrame, fpr: float
) -> None:
    decomposition = decompose_candles(candles.iloc[:200], "1h")
    with pytest.raises(ConfigError, match=r"target_fpr must be a rate between 0 and 0.5"):
        DetectionContext(SERIES, "1h", candles.iloc[:200], decomposition, target_fpr=fpr)


def test_flags_and_events_validate_their_fields() -> None:
    with pytest.raises(DataError, match="severity must be one of info, warning, critical"):
        Flag(SERIES, T0, "spike", "irregular", 1.0, 1.0, "bad", "r")  # type: ignore[arg-type]
    with pytest.raises(DataError, match="tz-aware UTC timestamp"):
        Flag(SERIES, pd.Timestamp("2024-01-01"), "spike", "irregular", 1.0, 1.0, "info", "r")
    with pytest.raises(DataError, match="flag score must be a finite number"):
        Flag(SERIES, T0, "spike", "irregular", math.nan, 1.0, "info", "r")
    with pytest.raises(DataError, match="is before its start"):
        AnomalyEvent(SERIES, "spike", T0, T0 - HOUR, 1.0, "info", 1, True)


# -- calibration -------------------------------------------------------------------------------


def test_calibration_uses_the_empirical_quantile_when_the_history_is_long_enough() -> None:
    scores = np.random.default_rng(0).exponential(1.0, 20_000)

    threshold = calibrate(scores, 0.001, floor=1.0)

    assert threshold.method == "empirical quantile of 20000 scores"
    assert threshold.value == pytest.approx(math.log(1000), abs=0.5)
    assert threshold.warning == pytest.approx(math.log(10_000), rel=0.15)  # tail fit
    assert threshold.warning < threshold.critical


def test_calibration_extrapolates_a_fitted_tail_for_rarer_rates() -> None:
    scores = np.random.default_rng(1).exponential(1.0, 2000)

    threshold = calibrate(scores, 0.0002, floor=1.0)

    assert threshold.method.startswith("GPD tail")
    assert threshold.value == pytest.approx(math.log(5000), rel=0.12)


def test_calibration_never_goes_below_the_floor_and_needs_some_history() -> None:
    quiet = calibrate(np.full(500, 0.1), 0.01, floor=3.0)
    assert (quiet.value, quiet.warning, quiet.critical) == (3.0, 3.0, 3.0)
    short = calibrate(np.arange(10.0), 0.01, floor=2.5)
    assert short.value == 2.5 and "only 10 scores" in short.method


def test_calibration_of_a_lasting_score_counts_runs_not_candles() -> None:
    base = np.random.default_rng(2).exponential(1.0, 4000)
    runs = np.repeat(base, 10)  # every value lasts 10 candles: 4,000 runs in 40,000 candles

    per_candle = calibrate(runs, 0.001, floor=0.0)
    per_run = calibrate(runs, 0.001, floor=0.0, cluster_gap=2)

    assert per_candle.value == pytest.approx(math.log(1000), abs=0.5)
    assert per_run.value == pytest.approx(math.log(100), abs=0.5)
    assert re.search(r"runs of 10\.\d candles on average$", per_run.method)


def test_severity_follows_the_rarer_levels() -> None:
    threshold = calibrate(np.random.default_rng(3).exponential(1.0, 50_000), 0.01, floor=0.0)

    assert threshold.severity(threshold.value - 0.01) is None
    assert threshold.severity(threshold.value) == "info"
    assert threshold.severity(threshold.warning) == "warning"
    assert threshold.severity(threshold.critical + 1) == "critical"
    assert threshold.rate == "1 in 100 candles"
