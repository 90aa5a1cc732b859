"""Volume spikes: traded volume far above its own seasonal profile, on a log scale.

log(volume + 1% of the median volume) is split into a level (the median of the previous
`level_window` candles: causal, so the newest candle is judged at once), a seasonal profile
(the median by phase of each period the decomposition used: hour of day, hour of week, ...,
with phases counted from the epoch so they do not move as the history slides) and a residual.
The score is the residual's robust z-score, upward only; the threshold is calibrated at
`target_fpr` on the series' history. Synthetic candles (no trade) are never scored or flagged.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from candlecast.core.anomalies.calibration import Threshold, calibrate
from candlecast.core.anomalies.detector import DetectionContext
from candlecast.core.anomalies.flag import Flag
from candlecast.core.anomalies.robust import robust_scale
from candlecast.core.market.timeframes import timeframe_seconds
from candlecast.plugins import hookimpl
from candlecast.plugins.hookspecs import Register

VOLUME_SPIKE = "volume_spike"


@dataclass(frozen=True)
class VolumeDetector:
    """Candles whose volume is far above what is usual for that time of day and week."""

    name: str = "volume"
    description: str = "volume spikes against the volume's own seasonal profile"
    kinds: tuple[str, ...] = (VOLUME_SPIKE,)
    settle: int = 0
    level_window: int = 24
    offset_share: float = 0.01
    z_floor: float = 3.0

    def scores(self, ctx: DetectionContext) -> pd.DataFrame:
        """Per candle: `volume_spike` (robust z, 0 below the usual) and `usual` volume."""
        traded = ~ctx.synthetic
        volume = ctx.candles["volume"].to_numpy(dtype="float64")
        usable = traded & np.isfinite(volume) & (volume >= 0)
        positive = volume[usable & (volume > 0)]
        index = ctx.candles.index
        if positive.size == 0:
            empty = np.full(len(index), np.nan)
            return pd.DataFrame({VOLUME_SPIKE: empty, "usual": empty}, index=index)
        offset = self.offset_share * float(np.median(positive))
        log_volume = pd.Series(
            np.where(usable, np.log(np.where(usable, volume, 0) + offset), np.nan)
        )
        level = (
            log_volume.rolling(self.level_window, min_periods=self.level_window // 2)
            .median()
            .shift(1)
            .to_numpy()
        )
        residual = log_volume.to_numpy() - level
        calibration = ctx.calibration(np.isfinite(residual))
        profile = np.zeros(len(index))
        steps = pd.DatetimeIndex(index).as_unit("s").asi8 // timeframe_seconds(ctx.timeframe)
        for period in ctx.decomposition.periods:
            phase = steps % period
            remainder = residual - profile
            by_phase = pd.Series(remainder[calibration]).groupby(phase[calibration]).median()
            profile += pd.Series(phase).map(by_phase).fillna(0.0).to_numpy()
        residual = residual - profile
        centre = float(np.nanmedian(residual[calibration])) if calibration.any() else 0.0
        z = (residual - centre) / robust_scale(residual[calibration])
        usual = np.exp(level + profile + centre) - offset
        return pd.DataFrame(
            {VOLUME_SPIKE: np.where(np.isfinite(z), np.fmax(z, 0.0), np.nan), "usual": usual},
            index=index,
        )

    def threshold(self, ctx: DetectionContext, scores: pd.DataFrame) -> Threshold:
        values = scores[VOLUME_SPIKE].to_numpy(dtype="float64")
        calibration = ctx.calibration(np.isfinite(values))
        return calibrate(values[calibration], ctx.target_fpr, floor=self.z_floor)

    def detect(self, ctx: DetectionContext) -> list[Flag]:
        scores = self.scores(ctx)
        threshold = self.threshold(ctx, scores)
        values = scores[VOLUME_SPIKE].to_numpy(dtype="float64")
        judged = ctx.judged(self.settle) & ~ctx.synthetic
        volume = ctx.candles["volume"].to_numpy(dtype="float64")
        flags = []
        for position in np.flatnonzero(judged & np.isfinite(values) & (values >= threshold.value)):
            score = float(values[position])
            severity = threshold.severity(score)
            if severity is None:
                continue
            usual = float(scores["usual"].iloc[position])
            ratio = volume[position] / usual if usual > 0 else float("inf")
            flags.append(
                Flag(
                    series=ctx.series,
                    timestamp=scores.index[position],
                    kind=VOLUME_SPIKE,
                    detector=self.name,
                    score=score,
                    threshold=threshold.value,
                    severity=severity,
                    reason=(
                        f"Volume {volume[position]:,.4g} is {ratio:.1f}x the usual "
                        f"{usual:,.4g} for this time: robust z {score:.1f} (threshold "
                        f"{threshold.value:.1f} is exceeded by {threshold.rate})."
                    ),
                )
            )
        return flags


@hookimpl
def register_detectors(register: Register) -> None:
    register(VolumeDetector())
