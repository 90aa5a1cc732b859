"""The streaming surprise detector: a candle's score comes from candles up to it (remove the
future, every judged score stays), the likelihood adapts to the stream (a stationary stream
flags at about the target rate; a level shift and a spike are flagged on their own candle)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from candlecast.core.anomalies.detector import DetectionContext
from candlecast.core.anomalies.likelihood import (
    LikelihoodSettings,
    empirical_rarity,
    log_tail,
    rarity,
    rarity_of_rate,
    rate_of_rarity,
)
from candlecast.core.anomalies.market import frozen_rarity, unchanged_run
from candlecast.core.anomalies.stream import StreamSettings, quiet_period, stream_scores
from candlecast.core.anomalies.surprise import (
    SurpriseSettings,
    jump_size,
    seasonal_surprise,
    surprise_features,
    variance_ratio,
)
from candlecast.core.decomposition import decompose_candles
from candlecast.core.errors import ConfigError
from candlecast.core.pipeline.flagging import flag_series
from candlecast.plugins.detectors.surprise import SurpriseDetector
from candlecast.plugins.detectors.volume import VolumeDetector
from tests.fixtures.series import make_candles

SERIES = "test:BTC/USDT:1h"


def _walk(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return 100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.003, n)))


def _context(candles: pd.DataFrame, since: int | None) -> DetectionContext:
    return DetectionContext(
        series=SERIES,
        timeframe="1h",
        candles=candles,
        decomposition=decompose_candles(candles, "1h"),
        since=None if since is None else candles.index[since],
    )


def test_scores_do_not_change_when_the_future_is_removed():
    values = _walk(1500, seed=1)
    values[900] *= 1.05
    values[1200:] *= 0.95
    full = stream_scores(values, season=24)
    for cut in (400, 901, 1100, 1350):
        prefix = stream_scores(values[:cut], season=24)
        for column in full.columns.drop("driver"):  # every part and raw surprise too
            np.testing.assert_array_equal(prefix[column].to_numpy(), full[column].to_numpy()[:cut])
        assert list(prefix["driver"]) == list(full["driver"][:cut])


def test_the_detector_judges_the_same_candles_the_same_way_without_the_future():
    """Through the flow's own path: flags of the candles judged by a run that ends early are
    those of a run that sees later candles too, and so is every per-candle score."""
    candles = make_candles(1400, seed=4)
    candles.iloc[1000, candles.columns.get_loc("close")] *= 0.9
    candles.iloc[1150:, candles.columns.get_loc("close")] *= 1.06
    detectors = {"surprise": SurpriseDetector()}

    def run(frame):
        return flag_series(
            SERIES,
            "1h",
            frame,
            decompose_candles(frame, "1h"),
            detectors,
            since=frame.index[700],
            forecasts=None,
            open_events=[],
            target_fpr=0.002,
            merge=True,
        )

    full = run(candles)
    for cut in (1004, 1160, 1300):
        early = run(candles.iloc[:cut])
        np.testing.assert_array_equal(early.rarity.to_numpy(), full.rarity.to_numpy()[:cut])
        judged_until = candles.index[cut - 1 - SurpriseDetector().settle]
        assert [(f.timestamp, f.kind, f.score) for f in early.flags] == [
            (f.timestamp, f.kind, f.score) for f in full.flags if f.timestamp <= judged_until
        ]


def test_a_stationary_stream_flags_at_about_the_target_rate():
    fpr = 0.002
    events = candles_judged = 0
    for seed in range(3):
        candles = make_candles(4000, seed=10 + seed, random_walk=True)
        ctx = _context(candles, since=2000)
        flags = SurpriseDetector().detect(ctx)
        times = sorted({f.timestamp for f in flags})
        positions = candles.index.get_indexer(times)
        events += int(np.sum(np.diff(positions, prepend=-10) > 2))  # runs of flags
        candles_judged += 2000
    assert events / candles_judged <= 2 * fpr


def test_a_level_shift_and_a_spike_are_flagged_on_the_candle_they_occur():
    values = _walk(2000, seed=3)
    values[1500] *= 1.06  # spike: one candle, back the next
    values[1800:] *= 1.06  # level shift: stays
    frame = stream_scores(values)
    threshold = rarity_of_rate(0.001)
    for position in (1500, 1800):
        assert frame["score"].iloc[position] >= threshold
        assert frame["score"].iloc[position - 1] < threshold


def test_the_likelihood_adapts_to_how_surprising_the_stream_usually_is():
    """The same raw surprise is rare in a calm stream and ordinary in a noisy one."""
    settings = LikelihoodSettings(short=10, long=500, learn=100)
    rng = np.random.default_rng(0)
    calm = np.zeros(1000)
    noisy = (rng.random(1000) < 0.2).astype(float)
    calm[900] = noisy[900] = 1.0
    assert rarity(log_tail(calm, settings))[900] > 0.4
    assert rarity(log_tail(noisy, settings))[900] < 0.2
    assert np.all(rarity(log_tail(calm, settings))[:100] < 0.05)  # learning: nothing judged


def test_rarity_reads_as_a_rate_and_quiet_periods_hold_one_alarm():
    assert rarity_of_rate(0.001) == pytest.approx(0.3)
    assert rate_of_rarity(0.5) == pytest.approx(1e-5)
    quiet = quiet_period(np.array([0.0, 0.6, 0.7, 0.2, 0.9, 0.1]), 2, 0.5)
    np.testing.assert_allclose(quiet, [0.0, 0.6, 0.495, 0.2, 0.9, 0.1])


def test_surprise_features_are_in_range_and_settings_are_checked():
    features = surprise_features(_walk(600))
    assert set(features) == {"novelty", "level", "shift", "context"}
    for values in features.values():
        assert values.shape == (600,) and values.min() >= 0.0 and values.max() <= 1.0
    with pytest.raises(ConfigError, match="scale_span must be a positive count"):
        SurpriseSettings(scale_span=0)
    with pytest.raises(ConfigError, match=r"short window .* must be shorter"):
        LikelihoodSettings(short=50, long=20)
    with pytest.raises(ConfigError, match="quiet must be a count"):
        StreamSettings(quiet=-1)


def test_a_champion_forecast_miss_is_a_surprise_of_its_own():
    candles = make_candles(1200, seed=6)
    index = candles.index
    close = candles["close"].to_numpy()
    # the champion forecast the daily cycle well; at 1000 it was far off (the close was not)
    forecasts = pd.DataFrame(
        {
            "target_time": index[900:1100],
            "value": close[900:1100],
            "lower_95": close[900:1100] * 0.999,
            "upper_95": close[900:1100] * 1.001,
            "issued_at": index[899:1099],
        }
    )
    forecasts.loc[100, "value"] = close[1000] * 1.05
    forecasts.loc[100, "lower_95"] = close[1000] * 1.049
    forecasts.loc[100, "upper_95"] = close[1000] * 1.051
    ctx = DetectionContext(
        series=SERIES,
        timeframe="1h",
        candles=candles,
        decomposition=decompose_candles(candles, "1h"),
        since=index[950],
        forecasts=forecasts,
    )
    scores = SurpriseDetector().scores(ctx)
    assert scores["driver"].iloc[1000] == "forecast"
    assert scores["raw_forecast"].iloc[1000] == 1.0


def test_volume_and_surprise_flags_of_one_candle_merge_in_the_flow_path():
    candles = make_candles(1500, seed=8)
    candles.iloc[1300, candles.columns.get_loc("close")] *= 0.85
    candles.iloc[1300, candles.columns.get_loc("volume")] *= 40
    detection = flag_series(
        SERIES,
        "1h",
        candles,
        decompose_candles(candles, "1h"),
        {"surprise": SurpriseDetector(), "volume": VolumeDetector()},
        since=candles.index[1200],
        forecasts=None,
        open_events=[],
        target_fpr=0.002,
        merge=True,
    )
    (flag,) = [f for f in detection.flags if f.timestamp == candles.index[1300]]
    assert set(flag.detector.split("+")) == {"surprise", "volume"}
    assert flag.kind in ("bad_tick", "volume_spike")
    assert "volume (volume_spike" in flag.reason and "surprise (bad_tick" in flag.reason
    assert flag.threshold == pytest.approx(rarity_of_rate(0.002))


def test_an_empirical_rarity_reads_a_record_as_one_in_the_history_and_is_calibrated():
    values = np.random.default_rng(2).exponential(size=5000)
    ranked = empirical_rarity(values, learn=100)
    assert np.all(ranked[:100] == 0.0)  # learning: nothing judged
    record = np.flatnonzero(values[1000:] > np.max(values[50:1000]))[0] + 1000
    # a record among the n values that count (the first learn // 2 do not) reads 1 in n + 1
    assert ranked[record] == pytest.approx(np.log10(record - 50 + 1) / 10)
    # calibrated: a rarity of 0.2 (1 in 100) or more comes about once in 100 values
    assert np.mean(ranked[1000:] >= 0.2) == pytest.approx(0.01, abs=0.005)
    # `delay`: a value is ranked against the values at least `delay` before it
    plateau = np.concatenate([np.ones(300), np.full(20, 5.0)])
    # at 310: the values 50..309 count, ten of them as large
    assert empirical_rarity(plateau, learn=100)[310] == pytest.approx(np.log10(261 / 11) / 10)
    # with a delay of 20, the values 50..290 count: none as large
    assert empirical_rarity(plateau, learn=100, delay=20)[310] == pytest.approx(np.log10(242) / 10)
    with pytest.raises(ConfigError, match="delay must be a count of 1 or more"):
        empirical_rarity(plateau, learn=100, delay=0)


def test_a_value_outside_the_range_seen_is_one_alarm_after_the_learning_period():
    values = _walk(1200, seed=5)
    values[200] = values[:200].max() * 1.5  # learning: not judged
    values[900:910] = values[:900].max() * 1.5  # ten candles out of range: one alarm
    frame = stream_scores(values)
    novelty = frame["rarity_novelty"].to_numpy()
    assert novelty[200] == 0.0
    assert novelty[900] == 1.0 and frame["score"].iloc[900] == 1.0
    assert novelty[901:950].sum() == 0.0
    assert frame["driver"].iloc[900] == "novelty"


def test_a_jump_is_scored_by_how_rare_its_size_is_for_the_series():
    calm = _walk(3000, seed=6)
    spiky = calm * np.exp(np.where(np.arange(3000) % 50 == 0, 0.03, 0.0))  # a 10-sigma every 50
    calm[2500] *= 1.03
    spiky[2525] *= 1.03
    assert jump_size(calm)[2500] > 8.0
    rare = stream_scores(calm)["rarity_jump"].iloc[2500]
    ordinary = stream_scores(spiky)["rarity_jump"].iloc[2525]
    assert rare == pytest.approx(np.log10(2500 - 150 + 1) / 10, abs=0.01)  # a record
    assert rare >= rarity_of_rate(0.002) > ordinary


def test_a_volatility_burst_is_a_burst_and_a_spike_is_not():
    values = _walk(2000, seed=7)
    rng = np.random.default_rng(7)
    burst = values.copy()
    burst[1500:1524] *= np.exp(rng.normal(0.0, 0.015, 24))  # five times the usual changes
    spike = values.copy()
    spike[1500] *= 1.05
    crash = values.copy()
    crash[1500:1503] *= [0.95, 0.93, 0.97]
    assert variance_ratio(burst)[1510] > 3.0
    assert variance_ratio(spike)[1500:1510].max() < 2.0  # two large changes of nine
    burst_rarity = stream_scores(burst)["rarity_burst"].to_numpy()
    # a record once most of the window's changes are large (its ninth candle here), and still
    # one while the burst goes on
    assert np.all(burst_rarity[1508:1522] >= rarity_of_rate(0.002))
    assert np.all(burst_rarity[1400:1500] < rarity_of_rate(0.002))
    for quiet in (spike, crash):  # four large changes of nine: not a record of the median
        assert stream_scores(quiet)["rarity_burst"].iloc[1495:1530].max() < rarity_of_rate(0.002)


def test_a_frozen_price_is_rare_only_for_a_series_that_seldom_stands_still():
    moving = _walk(2000, seed=8)
    moving[1500:1510] = moving[1499]
    stepped = np.round(_walk(2000, seed=8), 0)  # whole numbers: runs of repeats are usual
    run = unchanged_run(moving)
    frozen = frozen_rarity(run, least=6, learn=300)
    assert np.all(frozen[1500:1504] == 0.0)  # shorter than `least`
    assert frozen[1504] == pytest.approx(np.log10(2000 - 150 - 500 + 1505 - 1500) / 10, abs=0.02)
    assert frozen[1504] >= rarity_of_rate(0.002)
    stepped_run = unchanged_run(stepped)
    usual = frozen_rarity(stepped_run, least=6, learn=300)
    sixes = np.flatnonzero(stepped_run[1000:] == 6) + 1000
    assert sixes.size and np.max(usual[sixes]) < rarity_of_rate(0.002)


def _daily(days: int, per_day: int = 48, seed: int = 0) -> np.ndarray:
    """A daily pattern (a peak from a third to half of each day) with noise."""
    t = np.arange(days * per_day)
    peak = ((t % per_day) >= per_day // 3) & ((t % per_day) < per_day // 2)
    return 20.0 + 60.0 * peak + np.random.default_rng(seed).normal(0.0, 2.0, t.size)


def test_a_day_that_breaks_the_daily_pattern_is_flagged_by_the_season_part():
    """The peak missing one day: nothing unusual for the level (every value is one the series
    takes each day), a surprise for the value a season before."""
    clean = _daily(40)
    broken = clean.copy()
    day = slice(30 * 48, 31 * 48)
    broken[day] = np.where(broken[day] > 50.0, broken[day] - 60.0, broken[day])
    threshold = rarity_of_rate(0.002)
    scores = stream_scores(broken, season=48)
    assert scores["score"].iloc[day].max() >= threshold
    assert scores["driver"].iloc[day][scores["score"].iloc[day] >= threshold].eq("season").all()
    assert scores["score"].iloc[600 : 30 * 48].max() < threshold  # the days before: nothing
    assert stream_scores(clean, season=48)["score"].iloc[600:].max() < threshold
    # without the season (a timeframe of a day or more), the broken day goes unseen
    assert stream_scores(broken)["score"].iloc[day].max() < threshold


def test_the_seasonal_surprise_is_zero_without_a_season_and_its_length_is_checked():
    values = _daily(10)
    assert not seasonal_surprise(values, None).any()
    assert not seasonal_surprise(values[:40], 48).any()  # shorter than a season
    raw = seasonal_surprise(values, 48)
    assert raw.min() >= 0.0 and raw.max() <= 1.0 and not raw[:48].any()
    # a random walk (a price) does not repeat its day: the value a day before is further off
    # than the one half a day before, so it is never judged against it, however far it moves
    for seed in range(3):
        walk = _walk(3000, seed=seed) * np.exp(0.002 * np.sin(2 * np.pi * np.arange(3000) / 24))
        assert not seasonal_surprise(walk, 24).any()
    for bad in (1, True, 2.5):
        with pytest.raises(ConfigError, match="season must be a count of at least 2 candles"):
            seasonal_surprise(values, bad)


@pytest.mark.parametrize(("timeframe", "season"), [("5m", 288), ("1h", 24), ("1d", None)])
def test_the_detector_takes_a_day_of_candles_as_the_season(timeframe, season, monkeypatch):
    seen = []
    real = seasonal_surprise

    def spy(values, length, settings=SurpriseSettings()):
        seen.append(length)
        return real(values, length, settings)

    monkeypatch.setattr("candlecast.core.anomalies.stream.seasonal_surprise", spy)
    candles = make_candles(400, seed=3, timeframe=timeframe)
    ctx = DetectionContext(SERIES, timeframe, candles, decompose_candles(candles, timeframe))
    SurpriseDetector().scores(ctx)
    assert seen == [season]


def test_a_run_of_alarms_that_turns_into_a_burst_is_named_a_burst_from_there_on():
    """A burst often opens with one large move, named on its own (a spike, a bad tick); once
    the burst part drives the alarms, the rest of the run is a volatility burst."""
    candles = make_candles(600, seed=2, random_walk=True)
    candles.iloc[500, candles.columns.get_loc("close")] *= 1.05  # out, and back at 501

    class Scripted(SurpriseDetector):
        def scores(self, ctx):
            frame = super().scores(ctx)
            frame["score"] = 0.0
            frame.iloc[500:504, frame.columns.get_loc("score")] = 0.4
            drivers = ["jump", "reversal", "burst", "jump"]
            frame.iloc[500:504, frame.columns.get_loc("driver")] = drivers
            return frame

    ctx = _context(candles, since=450)
    kinds = [flag.kind for flag in Scripted().detect(ctx)]
    assert kinds[0] in ("spike", "bad_tick") and kinds[1] == kinds[0]
    assert kinds[2:] == ["volatility_burst", "volatility_burst"]
