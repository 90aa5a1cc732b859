"""Outliers of the irregular component: spikes, level shifts and variance bursts.

All three are measured on the price decomposition (`decompose_candles`, log scale), whose level
is a 5-candle running median of the deseasonalised price and whose irregular part is the rest.
A running median ignores a one- or two-candle excursion and follows a step at once, which is
what tells the first two kinds apart:

- **spike** — the irregular value's robust z-score: its distance from the history's median in
  units of 1.4826 x MAD. The unit is the larger of the history's and the local one (the
  `local_window // 2` candles before or after, whichever are wilder), so that the big moves
  inside a volatile stretch are not each called a spike.
- **level_shift** — the robust z-score of the deseasonalised price's one-candle change (same
  unit rule), kept only where the move holds: the median of this candle and the next
  `persistence - 1` differs from the median of the `persistence` before by at least
  `min_hold` of the change, in its direction. A spike is gone within two candles and fails;
  a move that lasts three candles or more (one the running median follows) passes.
- **variance_burst** — the median absolute one-candle change over the last `variance_window`
  candles, as a multiple of the same over the `variance_baseline` candles before them: the
  dispersion rose and stayed up.

Each kind gets its own threshold at `target_fpr` on the series' history (`calibrate`): on clean
candles each kind raises about `target_fpr` false alarms per candle. A burst is one alarm over
many candles, so its threshold counts runs of flagged candles (`cluster_gap`), and once a burst
has begun it is flagged until its score falls below `variance_release` of the threshold (a
dip in the middle of a burst does not split it in two). Synthetic
candles are neither scored, used for calibration, nor flagged. A candle is judged once
`settle` (2) later candles exist, so that a spike has had the time to come back.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from candlecast.core.anomalies.calibration import Threshold, calibrate
from candlecast.core.anomalies.detector import DetectionContext
from candlecast.core.anomalies.events import DEFAULT_MAX_GAP
from candlecast.core.anomalies.flag import Flag
from candlecast.core.anomalies.robust import MAD_TO_SIGMA, TINY_SCALE, robust_scale
from candlecast.core.decomposition import LEVEL_WINDOW
from candlecast.plugins import hookimpl
from candlecast.plugins.hookspecs import Register

SPIKE = "spike"
LEVEL_SHIFT = "level_shift"
VARIANCE_BURST = "variance_burst"


@dataclass(frozen=True)
class IrregularDetector:
    """Spikes, level shifts and variance bursts in the irregular part of the price."""

    name: str = "irregular"
    opt_in: bool = True  # not streaming (centred windows): run only when a config names it
    description: str = "spikes, level shifts and variance bursts in the irregular part of the price"
    kinds: tuple[str, ...] = (SPIKE, LEVEL_SHIFT, VARIANCE_BURST)
    settle: int = LEVEL_WINDOW // 2
    local_window: int = 25
    persistence: int = LEVEL_WINDOW
    variance_window: int = 12
    variance_baseline: int = 168
    z_floor: float = 3.0
    variance_floor: float = 1.5
    variance_release: float = 0.75
    min_hold: float = 0.5

    def scores(self, ctx: DetectionContext) -> pd.DataFrame:
        """Per candle: the score of each kind (0 where a level move did not hold), and the
        change behind it (`deviation`, `jump`, `held`) in decomposition units."""
        decomposition = ctx.decomposition
        synthetic = ctx.synthetic
        deseasonalised = decomposition.deseasonalised.to_numpy(dtype="float64")
        irregular = np.where(synthetic, np.nan, decomposition.irregular.to_numpy(dtype="float64"))
        calibration = ctx.calibration(np.isfinite(irregular))

        deviation = irregular - np.nanmedian(irregular[calibration])
        spike = np.abs(deviation) / self._scale(deviation, calibration)

        jump = np.concatenate([[np.nan], np.diff(deseasonalised)])
        jump[synthetic] = np.nan
        jump_deviation = jump - np.nanmedian(jump[calibration & np.isfinite(jump)])
        jump_z = np.abs(jump_deviation) / self._scale(jump_deviation, calibration)
        series = pd.Series(np.where(synthetic, np.nan, deseasonalised))
        least = LEVEL_WINDOW // 2 + 1
        before = series.rolling(self.persistence, min_periods=least).median().shift(1).to_numpy()
        after = series[::-1].rolling(self.persistence, min_periods=least).median()[::-1].to_numpy()
        held = after - before
        holds = (np.sign(held) == np.sign(jump)) & (np.abs(held) >= self.min_hold * np.abs(jump))
        level_shift = np.where(holds, jump_z, 0.0)
        level_shift[~np.isfinite(jump_z) | ~np.isfinite(held)] = np.nan

        absolute = pd.Series(np.abs(jump_deviation))
        recent = (
            absolute.rolling(self.variance_window, min_periods=self.variance_window // 2)
            .median()
            .to_numpy()
        )
        baseline = (
            absolute.rolling(self.variance_baseline, min_periods=self.variance_baseline // 4)
            .median()
            .shift(self.variance_window)
            .to_numpy()
        )
        usual = float(np.nanmedian(np.abs(jump_deviation[calibration])))
        baseline = np.where(np.isfinite(baseline), baseline, usual)
        variance = recent / np.fmax(baseline, TINY_SCALE)

        return pd.DataFrame(
            {
                SPIKE: spike,
                LEVEL_SHIFT: level_shift,
                VARIANCE_BURST: variance,
                "deviation": deviation,
                "jump": jump,
                "held": held,
            },
            index=ctx.candles.index,
        )

    def thresholds(self, ctx: DetectionContext, scores: pd.DataFrame) -> dict[str, Threshold]:
        """Each kind's threshold at `target_fpr` on the calibration candles."""
        fpr = ctx.target_fpr
        result = {}
        for kind in self.kinds:
            values = scores[kind].to_numpy(dtype="float64")
            calibration = ctx.calibration(np.isfinite(values))
            if kind == VARIANCE_BURST:
                result[kind] = calibrate(
                    values[calibration],
                    fpr,
                    floor=self.variance_floor,
                    cluster_gap=DEFAULT_MAX_GAP,
                )
            else:
                result[kind] = calibrate(values[calibration], fpr, floor=self.z_floor)
        return result

    def detect(self, ctx: DetectionContext) -> list[Flag]:
        scores = self.scores(ctx)
        thresholds = self.thresholds(ctx, scores)
        judged = ctx.judged(self.settle) & ~ctx.synthetic
        log = ctx.decomposition.scale == "log"
        flags: list[Flag] = []
        for kind in self.kinds:
            threshold = thresholds[kind]
            values = scores[kind].to_numpy(dtype="float64")
            above = np.isfinite(values) & (values >= threshold.value)
            release = threshold.value
            if kind == VARIANCE_BURST:
                release = max(self.variance_floor, self.variance_release * threshold.value)
                ongoing = _continues(above, np.isfinite(values) & (values >= release))
            else:
                ongoing = above
            for position in np.flatnonzero(judged & ongoing):
                row = scores.iloc[position]
                score = float(values[position])
                starts = bool(above[position])
                flags.append(
                    Flag(
                        series=ctx.series,
                        timestamp=scores.index[position],
                        kind=kind,
                        detector=self.name,
                        score=score,
                        threshold=threshold.value if starts else release,
                        severity=threshold.severity(score) or "info",
                        reason=self._reason(kind, row, score, threshold, log, release),
                    )
                )
        return sorted(flags, key=lambda f: (f.timestamp, f.kind))

    def _scale(self, values: np.ndarray, calibration: np.ndarray) -> np.ndarray:
        """max(history scale, local scale) per candle: robust z denominators."""
        history = robust_scale(values[calibration])
        absolute = pd.Series(np.abs(values))
        half = self.local_window // 2
        least = max(3, half // 2)
        before = absolute.rolling(half, min_periods=least).median().shift(1)
        after = absolute[::-1].rolling(half, min_periods=least).median()[::-1].shift(-1)
        local = np.fmax(before.to_numpy(), after.to_numpy()) * MAD_TO_SIGMA
        return np.fmax(local, history)

    def _reason(
        self,
        kind: str,
        row: pd.Series,
        score: float,
        threshold: Threshold,
        log: bool,
        release: float,
    ) -> str:
        rate = f"threshold {threshold.value:.1f} is exceeded by {threshold.rate}"
        if kind == SPIKE:
            return (
                f"Close is {_change(row['deviation'], log)} away from the 5-candle median level "
                f"and the level did not follow: robust z {score:.1f} ({rate})."
            )
        if kind == LEVEL_SHIFT:
            return (
                f"Level moved {_change(row['jump'], log)} at this candle and held: the median "
                f"of the {self.persistence} candles from here is {_change(row['held'], log)} "
                f"from that of the {self.persistence} before; robust z {score:.1f} ({rate})."
            )
        ending = "" if score >= threshold.value else f"; it lasts until below {release:.1f}x"
        return (
            f"Dispersion of the candle-to-candle changes over the last {self.variance_window} "
            f"candles is {score:.1f}x that of the {self.variance_baseline} before (a burst "
            f"starts above {threshold.value:.1f}x about {threshold.rate}{ending})."
        )


def _continues(above: np.ndarray, sustained: np.ndarray) -> np.ndarray:
    """True from a candle `above` on for as long as the candles stay `sustained`."""
    segment = np.cumsum(~sustained)
    started = pd.Series(above & sustained).groupby(segment).cummax().to_numpy(dtype=bool)
    return started & sustained


def _change(value: float, log: bool) -> str:
    """A change in decomposition units as words: "+7.9%" on a log scale, "+12.5" otherwise."""
    if log:
        return f"{np.expm1(value) * 100:+.1f}%"
    return f"{value:+.4g}"


@hookimpl
def register_detectors(register: Register) -> None:
    register(IrregularDetector())
