"""Market anomalies named for what they are, each on a synthetic series, and the merge of the
flags several detectors raise on one candle."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from candlecast.core.anomalies.flag import Flag
from candlecast.core.anomalies.likelihood import rarity_of_rate
from candlecast.core.anomalies.market import (
    BAD_TICK,
    FLASH_CRASH,
    FROZEN_PRICE,
    LEVEL_SHIFT,
    VOLATILITY_BURST,
    VOLUME_SPIKE,
    classify,
    kind_title,
    unchanged_run,
)
from candlecast.core.anomalies.merge import merge_flags
from candlecast.core.decomposition import decompose_candles
from candlecast.core.pipeline.flagging import flag_series
from candlecast.plugins.detectors.surprise import SurpriseDetector
from candlecast.plugins.detectors.volume import VolumeDetector
from tests.fixtures.series import make_candles

SERIES = "test:BTC/USDT:1h"


def _events(candles: pd.DataFrame) -> dict[int, str]:
    detection = flag_series(
        SERIES,
        "1h",
        candles,
        decompose_candles(candles, "1h"),
        {"surprise": SurpriseDetector(), "volume": VolumeDetector()},
        since=candles.index[1000],
        forecasts=None,
        open_events=[],
        target_fpr=0.002,
        merge=True,
    )
    return {int(candles.index.get_loc(e.start)): e.kind for e in detection.events}


@pytest.mark.parametrize(
    ("kind", "plant", "at"),
    [
        (BAD_TICK, lambda c: c.__setitem__(1500, c[1500] * 0.9), 1500),
        (
            FLASH_CRASH,
            lambda c: c.__setitem__(slice(1500, 1503), c[1500:1503] * [0.95, 0.93, 0.97]),
            1500,
        ),
        (LEVEL_SHIFT, lambda c: c.__setitem__(slice(1500, None), c[1500:] * 1.08), 1500),
        (FROZEN_PRICE, lambda c: c.__setitem__(slice(1500, 1516), c[1499]), 1504),
        (
            VOLATILITY_BURST,
            lambda c: c.__setitem__(
                slice(1500, 1524),
                c[1500:1524] * np.exp(np.random.default_rng(1).normal(0, 0.03, 24)),
            ),
            1500,
        ),
    ],
)
def test_each_price_anomaly_is_one_event_of_its_kind(kind, plant, at):
    candles = make_candles(1700, seed=3)
    close = candles["close"].to_numpy().copy()
    plant(close)
    candles["close"] = close
    events = _events(candles)
    nearby = {s: k for s, k in events.items() if abs(s - at) < 60 and k != VOLUME_SPIKE}
    assert list(nearby.values()) == [kind], events
    (start,) = nearby
    # on its candle; a burst of random changes once they add up (within its first few)
    assert start == at or (kind == VOLATILITY_BURST and at <= start <= at + 6)


def test_a_volume_spike_is_named_by_the_volume_detector():
    candles = make_candles(1700, seed=3)
    candles.iloc[1500, candles.columns.get_loc("volume")] *= 30
    assert _events(candles)[1500] == VOLUME_SPIKE


def test_classify_reads_the_settle_candles_after_the_surprise():
    base = np.full(40, 100.0) + np.sin(np.arange(40))  # moving, never frozen
    tick = base.copy()
    tick[30] = 80.0
    assert classify(tick, 30, 3) == BAD_TICK
    shift = base.copy()
    shift[30:] += 20
    assert classify(shift, 30, 3) == LEVEL_SHIFT
    np.testing.assert_array_equal(unchanged_run(np.array([1.0, 1, 1, 2, 2])), [1, 2, 3, 1, 2])
    assert kind_title(FLASH_CRASH) == "flash crash with recovery"
    assert kind_title("my_kind") == "my kind"


def _flag(detector, kind, score, threshold, severity, minute=0):
    return Flag(
        SERIES,
        pd.Timestamp("2024-01-01", tz="UTC") + pd.Timedelta(minutes=minute),
        kind,
        detector,
        score,
        threshold,
        severity,
        f"{detector} says {kind}",
    )


def test_flags_of_one_candle_merge_into_one_calibrated_flag():
    flags = [
        _flag("surprise", BAD_TICK, 0.62, 0.27, "critical"),
        _flag("volume", VOLUME_SPIKE, 9.0, 4.0, "warning"),
        _flag("volume", VOLUME_SPIKE, 4.5, 4.0, "info", minute=60),
    ]
    merged = merge_flags(flags, 0.002, {"surprise": "rarity"})
    first, second = merged
    assert first.detector == "surprise+volume" and first.kind == BAD_TICK
    assert first.score == pytest.approx(0.62) and first.severity == "critical"
    assert first.threshold == pytest.approx(rarity_of_rate(0.002))
    assert "surprise (bad_tick, calibrated 0.62): surprise says bad_tick" in first.reason
    assert "volume (volume_spike, calibrated 0.37): volume says volume_spike" in first.reason
    # a detector in its own units is given the rarity of the rate its severity stands for
    assert second.detector == "volume" and second.score == pytest.approx(rarity_of_rate(0.002))


def test_a_rarer_contribution_names_the_merged_flag():
    flags = [
        _flag("surprise", LEVEL_SHIFT, 0.28, 0.27, "info"),
        _flag("breach", "forecast_breach", 3.0, 1.7, "critical"),
    ]
    (merged,) = merge_flags(flags, 0.002, {"surprise": "rarity"})
    assert merged.kind == "forecast_breach" and merged.detector == "breach+surprise"
    assert merged.score == pytest.approx(rarity_of_rate(0.002 / 100))
