"""Forecast breaches: the actual close outside the interval of the forecast made for it.

For each candle with a published forecast (the latest one made before the candle when the
forecasts carry an `issued_at` (or `origin`) column, else the last row for that time), the score is how far the
close lies from the forecast value in units of the interval's half-width on that side, for the
widest interval published (e.g. 95 of 80/95): 1.0 is the interval's edge.

The threshold is never below 1 (inside the interval is never a breach). Above that it is
calibrated at `target_fpr` on the breach scores of earlier forecasts when there are at least
`min_history` of them; otherwise it assumes normal tails, z(1 - fpr/2) / z((1 + level)/2)
half-widths (1.68 for a 95% interval at 1 in 1,000). An interval that is already calibrated
(conformal) misses 1 - level of the time by design, which at hourly candles is more than an
analyst wants to read: the threshold keeps the breaches that are rare for this series.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.stats import norm

from candlecast.core.anomalies.calibration import (
    CRITICAL_RARITY,
    WARNING_RARITY,
    Threshold,
    calibrate,
)
from candlecast.core.anomalies.detector import DetectionContext
from candlecast.core.anomalies.flag import Flag
from candlecast.core.errors import DataError
from candlecast.plugins import hookimpl
from candlecast.plugins.hookspecs import Register

FORECAST_BREACH = "forecast_breach"
ISSUED_COLUMNS = ("issued_at", "origin")
"""Columns that say when a forecast was made (the newest candle it was made from)."""
_BOUND = re.compile(r"^lower_(\d+(?:\.\d+)?)$")


@dataclass(frozen=True)
class BreachDetector:
    """Candles whose close fell outside the published forecast interval for that time."""

    name: str = "breach"
    description: str = "closes outside the interval of the forecast published for them"
    kinds: tuple[str, ...] = (FORECAST_BREACH,)
    settle: int = 0
    column: str = "close"
    min_history: int = 50
    floor: float = 1.0

    def scores(self, ctx: DetectionContext) -> pd.DataFrame:
        """One row per candle with a forecast: actual, value, lower, upper, level, score."""
        if ctx.forecasts is None or ctx.forecasts.empty:
            return pd.DataFrame(
                columns=["actual", "value", "lower", "upper", "level", "score"],
                index=pd.DatetimeIndex([], tz="UTC", name="timestamp"),
            )
        level = widest_level(ctx.forecasts)
        forecasts = latest_forecasts(ctx.forecasts)
        lower = forecasts[f"lower_{level}"].astype("float64")
        upper = forecasts[f"upper_{level}"].astype("float64")
        value = forecasts["value"].astype("float64")
        traded = ctx.candles.loc[~ctx.synthetic, self.column].astype("float64")
        actual = traded.reindex(forecasts.index)
        above = actual > value
        width = np.where(above, upper - value, value - lower)
        distance = (actual - value).abs()
        score = np.where(width > 0, distance / np.where(width > 0, width, 1.0), np.nan)
        table = pd.DataFrame(
            {
                "actual": actual,
                "value": value,
                "lower": lower,
                "upper": upper,
                "level": float(level),
                "score": score,
            },
            index=forecasts.index,
        )
        return table[np.isfinite(table["actual"]) & np.isfinite(table["score"])]

    def threshold(self, ctx: DetectionContext, scores: pd.DataFrame) -> Threshold:
        history = scores["score"]
        if ctx.since is not None:
            history = history[history.index <= ctx.since]
        if len(history) >= self.min_history:
            return calibrate(history.to_numpy(), ctx.target_fpr, floor=self.floor)
        level = float(scores["level"].iloc[0]) / 100.0 if len(scores) else 0.95
        inside = norm.ppf((1.0 + level) / 2.0)
        values = [
            max(self.floor, float(norm.ppf(1.0 - ctx.target_fpr / rarity / 2.0) / inside))
            for rarity in (1.0, WARNING_RARITY, CRITICAL_RARITY)
        ]
        return Threshold(
            value=values[0],
            warning=values[1],
            critical=values[2],
            target_fpr=ctx.target_fpr,
            method=(
                f"normal tails ({len(history)} earlier forecasts, calibration needs "
                f"{self.min_history})"
            ),
            n=len(history),
        )

    def detect(self, ctx: DetectionContext) -> list[Flag]:
        scores = self.scores(ctx)
        if scores.empty:
            return []
        threshold = self.threshold(ctx, scores)
        judged_times = ctx.candles.index[ctx.judged(self.settle) & ~ctx.synthetic]
        candidates = scores[scores.index.isin(judged_times) & (scores["score"] >= threshold.value)]
        flags = []
        for timestamp, row in candidates.iterrows():
            score = float(row["score"])
            severity = threshold.severity(score)
            if severity is None:
                continue
            side = "above" if row["actual"] > row["value"] else "below"
            flags.append(
                Flag(
                    series=ctx.series,
                    timestamp=timestamp,
                    kind=FORECAST_BREACH,
                    detector=self.name,
                    score=score,
                    threshold=threshold.value,
                    severity=severity,
                    reason=(
                        f"{self.column.capitalize()} {row['actual']:,.6g} is {side} the "
                        f"{row['level']:g}% interval [{row['lower']:,.6g}, {row['upper']:,.6g}] "
                        f"of the forecast {row['value']:,.6g} published for this candle, by "
                        f"{score:.2f} half-widths (threshold {threshold.value:.2f} is exceeded "
                        f"by {threshold.rate})."
                    ),
                )
            )
        return flags


def widest_level(forecasts: pd.DataFrame) -> str:
    """The level (as written in the column names) of the widest lower/upper pair."""
    levels = [
        match.group(1)
        for column in forecasts.columns
        if (match := _BOUND.match(str(column))) and f"upper_{match.group(1)}" in forecasts.columns
    ]
    if not levels:
        raise DataError(
            f"forecasts have no lower_<level>/upper_<level> column pair (e.g. lower_95, "
            f"upper_95); columns are {', '.join(map(str, forecasts.columns))}"
        )
    return max(levels, key=float)


def latest_forecasts(forecasts: pd.DataFrame) -> pd.DataFrame:
    """One forecast per target time, indexed by it (UTC): the freshest one made before it."""
    frame = forecasts.copy()
    try:
        frame["target_time"] = pd.to_datetime(frame["target_time"], utc=True)
    except (TypeError, ValueError) as exc:
        raise DataError(f"forecasts target_time must hold timestamps: {exc}") from exc
    issued = next((c for c in ISSUED_COLUMNS if c in frame.columns), None)
    if issued is not None:
        frame[issued] = pd.to_datetime(frame[issued], utc=True)
        frame = frame[frame[issued] < frame["target_time"]].sort_values(
            ["target_time", issued], kind="stable"
        )
    frame = frame.drop_duplicates("target_time", keep="last").set_index("target_time")
    frame.index.name = "timestamp"
    return frame.sort_index()


@hookimpl
def register_detectors(register: Register) -> None:
    register(BreachDetector())
