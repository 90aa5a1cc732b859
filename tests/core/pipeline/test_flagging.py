"""The anomaly step: each detector on its own, so one that cannot run never silences the
others; what failed is reported, and the run's status says `partial`."""

from __future__ import annotations

import pandas as pd

from candlecast.core.anomalies.flag import Flag
from candlecast.core.decomposition import decompose_candles
from candlecast.core.market.candles import SeriesKey
from candlecast.core.pipeline.flagging import flag_series
from candlecast.core.results import RunResults, SeriesOutcome
from tests.fixtures.series import make_candles

SERIES = "binance:BTC/USDT:1h"


class EveryTenth:
    """Flags every tenth judged candle (a stand-in that always works)."""

    name = "every_tenth"
    kinds = ("tenth",)

    def detect(self, ctx) -> list[Flag]:
        judged = ctx.candles.index[ctx.judged(0)]
        return [
            Flag(SERIES, t, "tenth", self.name, 1.0, 0.5, "info", "a tenth candle")
            for t in judged[::10]
        ]


class NeedsForecasts:
    """Raises like the breach detector did when no stored forecast had intervals."""

    name = "needs_forecasts"
    kinds = ("breach",)

    def detect(self, ctx) -> list[Flag]:
        raise RuntimeError("no stored forecast has intervals")


def test_a_detector_that_cannot_run_is_reported_and_the_others_flag():
    candles = make_candles(600, seed=2)
    since = candles.index[500]
    detection = flag_series(
        SERIES,
        "1h",
        candles,
        decompose_candles(candles, "1h"),
        {"needs_forecasts": NeedsForecasts(), "every_tenth": EveryTenth()},
        since=since,
        forecasts=None,
        open_events=[],
        target_fpr=0.002,
    )
    assert len(detection.flags) == 10 and {f.detector for f in detection.flags} == {"every_tenth"}
    assert detection.events and detection.new_events
    assert list(detection.failures) == ["needs_forecasts"]
    reason = detection.failures["needs_forecasts"]
    assert "detector 'needs_forecasts' failed" in reason and "no stored forecast" in reason

    outcome = SeriesOutcome(SeriesKey.parse(SERIES), detector_failures=detection.failures)
    results = RunResults("r1", pd.Timestamp("2024-01-01", tz="UTC"), series=[outcome])
    assert results.settle_status() == "partial"
    (problem,) = results.problems()
    assert problem.startswith(f"{SERIES}: detector needs_forecasts could not run: ")


def test_a_run_with_nothing_failed_is_ok_and_one_with_every_series_failed_is_failed():
    good = SeriesOutcome(SeriesKey.parse(SERIES))
    results = RunResults("r2", pd.Timestamp("2024-01-01", tz="UTC"), series=[good])
    assert results.settle_status() == "ok" and results.problems() == []
    results.publish_failures["files"] = "disk full"
    assert results.settle_status() == "partial"
    assert results.problems() == ["publisher files failed: disk full"]
    undetected = SeriesOutcome(SeriesKey.parse(SERIES))
    undetected.quality["anomalies"] = "anomaly detection failed: MemoryError"
    whole = RunResults("r4", results.started, series=[undetected])
    assert whole.settle_status() == "partial"  # the detection stage failed as a whole
    assert whole.problems() == [f"{SERIES}: anomaly detection failed: MemoryError"]
    bad = SeriesOutcome(SeriesKey.parse(SERIES), error="no candles", failed_stage="fetch")
    assert RunResults("r3", results.started, series=[bad]).settle_status() == "failed"
