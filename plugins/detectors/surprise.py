"""Streaming surprise: each new close scored by how badly cheap one-step predictions (and the
champion's published forecast, where one exists) missed it, as an anomaly likelihood, and by
how rare its move is for the series.

The score of a candle comes from the candles up to it only (`core/anomalies/stream.py`): one
HTM-style likelihood of the largest raw surprise and one of the surprise against the close a
day before (for intraday timeframes; each with a quiet period after an alarm), the
novelty of a close outside the range seen so far, and the jump, reversal, burst and frozen-run
sizes ranked against the series' own history, the largest as a rarity in [0, 1] (0.3 = a
1-in-1,000 tail). The threshold is the rarity of `target_fpr` itself (each part is already a
tail probability for the series); the severity is the rarity the candle reaches (warning 10
and critical 100 times rarer). The kind (flash crash, bad tick, frozen price, ...:
`core/anomalies/market.py`) is named once `settle` later candles exist; the score does not
wait for them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from candlecast.core.anomalies.calibration import CRITICAL_RARITY, WARNING_RARITY, Threshold
from candlecast.core.anomalies.detector import DetectionContext
from candlecast.core.anomalies.events import DEFAULT_MAX_GAP
from candlecast.core.anomalies.flag import Flag
from candlecast.core.anomalies.likelihood import rarity_of_rate, rate_of_rarity
from candlecast.core.anomalies.market import (
    FROZEN_PRICE,
    PRICE_KINDS,
    VOLATILITY_BURST,
    MarketRules,
    burst_ratio,
    classify,
    frozen_rarity,
    kind_title,
    unchanged_run,
)
from candlecast.core.anomalies.stream import StreamSettings, stream_scores
from candlecast.core.anomalies.surprise import BURST, REVERSAL, forecast_surprise
from candlecast.core.market.timeframes import timeframe_seconds
from candlecast.plugins import hookimpl
from candlecast.plugins.detectors.breach import latest_forecasts, widest_level
from candlecast.plugins.hookspecs import Register

DRIVERS = {
    "novelty": "the close left the range seen so far",
    "jump": "the change from the previous close, among the largest this series has made",
    "level": "the miss against the recent (exponentially weighted) level",
    "shift": "the mean of the last closes against that of the ones before",
    "context": "the close broke a pattern the series has always repeated",
    "reversal": "a move the next close undid, as large as seldom before in this series",
    "burst": "most recent changes large, as seldom before in this series",
    "season": "the closes against the same time a day before, as seldom missed in this series",
    "forecast": "the miss against the champion's published forecast",
}


@dataclass(frozen=True)
class SurpriseDetector:
    """Closes that surprise cheap causal predictions, scored as an anomaly likelihood."""

    name: str = "surprise"
    description: str = (
        "streaming prediction-error likelihood of each new close: flash crashes, bad ticks, "
        "frozen prices, spikes, volatility bursts, level shifts"
    )
    kinds: tuple[str, ...] = PRICE_KINDS
    settle: int = 3
    column: str = "close"
    score_scale: str = "rarity"
    settings: StreamSettings = field(default_factory=StreamSettings)
    rules: MarketRules = field(default_factory=MarketRules)

    def scores(self, ctx: DetectionContext) -> pd.DataFrame:
        """Per candle: `score` (rarity in [0, 1] from candles up to it), `driver`, per-feature
        rarities, and `frozen` (how long the close has stood still)."""
        closes = ctx.candles[self.column].to_numpy(dtype="float64").copy()
        closes[ctx.synthetic] = np.nan  # gap-filled candles are skipped, not predicted
        frame = stream_scores(
            closes,
            self.settings,
            forecast_raw=self._forecast_raw(ctx, closes),
            index=ctx.candles.index,
            season=_season(ctx.timeframe),
        )
        frozen = unchanged_run(closes)
        stale = frozen_rarity(frozen, self.rules.frozen_candles, self.settings.likelihood.learn)
        frame.loc[stale > frame["rarity"].to_numpy(), "driver"] = "frozen"
        frame["rarity"] = np.fmax(frame["rarity"].to_numpy(), stale)
        frame["score"] = np.fmax(frame["score"].to_numpy(), stale)
        frame["frozen"] = frozen
        frame.loc[ctx.synthetic, "score"] = 0.0
        return frame

    def rarity(self, ctx: DetectionContext) -> pd.Series:
        """The calibrated per-candle score (a rarity, from candles up to each one)."""
        return self.scores(ctx)["score"]

    def threshold(self, ctx: DetectionContext, scores: pd.DataFrame | None = None) -> Threshold:
        """The rarity of `target_fpr` (the likelihood is the calibration: a tail probability of
        the series' own surprise); warning and critical at 10 and 100 times rarer."""
        fpr = ctx.target_fpr
        levels = [rarity_of_rate(fpr / rarer) for rarer in (1.0, WARNING_RARITY, CRITICAL_RARITY)]
        return Threshold(*levels, target_fpr=fpr, method="anomaly likelihood", n=len(ctx.candles))

    def detect(self, ctx: DetectionContext) -> list[Flag]:
        scores = self.scores(ctx)
        threshold = self.threshold(ctx, scores)
        values = scores["score"].to_numpy(dtype="float64")
        closes = ctx.candles[self.column].to_numpy(dtype="float64").copy()
        closes[ctx.synthetic] = np.nan
        judged = ctx.judged(self.settle) & ~ctx.synthetic
        frozen = scores["frozen"].to_numpy()
        drivers = scores["driver"].to_numpy()
        bursts = burst_ratio(closes, self.rules)
        above = np.isfinite(values) & (values >= threshold.value)
        flags = []
        kind = ""
        origin = 0
        for position in np.flatnonzero(above):
            # one anomaly, one kind: it is named at the first candle of its run of alarms
            starts = position == 0 or not above[max(0, position - DEFAULT_MAX_GAP) : position].any()
            if starts or not kind:
                stale = frozen[position] >= self.rules.frozen_candles
                origin = position if stale else _origin(closes, position)
                if drivers[position] == REVERSAL and not stale:
                    origin = max(0, position - 1)  # the move out; this candle is the move back
                kind = classify(
                    closes,
                    origin,
                    self.settle + position - origin,
                    self.rules,
                    frozen=frozen,
                    bursts=bursts,
                )
            if drivers[position] == BURST and kind != FROZEN_PRICE:
                # what made it rare is a burst, whatever the move: a burst that began with a
                # move named on its own (a spike, a crash) is a burst from here on
                kind = VOLATILITY_BURST
            if not judged[position]:
                continue
            score = float(values[position])
            flags.append(
                Flag(
                    series=ctx.series,
                    timestamp=scores.index[position],
                    kind=kind,
                    detector=self.name,
                    score=score,
                    threshold=threshold.value,
                    severity=threshold.severity(score) or "info",
                    reason=self._reason(
                        kind, scores.iloc[position], closes, origin, scores.index, threshold
                    ),
                )
            )
        return flags

    def _forecast_raw(self, ctx: DetectionContext, closes: np.ndarray) -> np.ndarray | None:
        """Raw surprise against the champion's published forecast per candle (None: none)."""
        if ctx.forecasts is None or ctx.forecasts.empty:
            return None
        level = widest_level(ctx.forecasts)
        forecasts = latest_forecasts(ctx.forecasts)
        forecasts = forecasts[~forecasts.index.duplicated(keep="last")].reindex(ctx.candles.index)
        value = forecasts["value"].to_numpy(dtype="float64")
        above = closes > value
        upper = forecasts[f"upper_{level}"].to_numpy(dtype="float64")
        lower = forecasts[f"lower_{level}"].to_numpy(dtype="float64")
        half = np.where(above, upper - value, value - lower)
        return forecast_surprise(closes, value, half, self.settings.surprise)

    def _reason(
        self,
        kind: str,
        row: pd.Series,
        closes: np.ndarray,
        origin: int,
        index: pd.Index,
        threshold: Threshold,
    ) -> str:
        """The kind, what moved (at the anomaly's origin candle), the rarity and the threshold."""
        score = float(row["score"])
        rate = f"1 in {1.0 / rate_of_rarity(score):,.0f}"
        if kind == FROZEN_PRICE:
            cause = f"the close has not changed for {int(row['frozen'])} candles"
        else:
            driver = str(row["driver"])
            cause = f"driver: {DRIVERS.get(driver, driver)}"
            previous = closes[:origin][np.isfinite(closes[:origin])]
            if previous.size and previous[-1] != 0:
                move = closes[origin] / previous[-1] - 1.0
                cause = (
                    f"close {closes[origin]:,.6g} ({move * 100:+.2f}%) at "
                    f"{index[origin]:%Y-%m-%d %H:%M}; {cause}"
                )
        return (
            f"{kind_title(kind).capitalize()}: {cause}. Surprise likelihood rarity {score:.2f} "
            f"(a {rate} tail for this series); threshold {threshold.value:.2f} is exceeded by "
            f"{threshold.rate}."
        )


def _season(timeframe: str) -> int | None:
    """Candles in a day, for intraday timeframes (None for a day or longer)."""
    seconds = timeframe_seconds(timeframe)
    return 86_400 // seconds if seconds < 86_400 else None


def _origin(closes: np.ndarray, position: int, back: int = 2) -> int:
    """The candle among the alarm's and the `back` before it with the largest change: the
    likelihood averages a few candles, so in a noisy series the alarm can come a candle after
    the move that caused it (the move back of a bad tick, say), and the kind is the move's."""
    start = max(1, position - back)
    change = np.abs(np.diff(closes[start - 1 : position + 1]))
    if change.size == 0 or not np.isfinite(change).any():
        return position
    return start + int(np.nanargmax(change))


@hookimpl
def register_detectors(register: Register) -> None:
    register(SurpriseDetector())
