"""One flag per candle: the flags several detectors raised on the same candle, merged.

Each flag is first given a calibrated score, a *rarity* in [0, 1] (-log10 of the tail
probability / 10: 0.3 is one in a thousand; see `likelihood.py`), so that scores read the same
whatever the detector and the series:

- a detector whose scores already are rarities (`score_scale = "rarity"`) keeps its score;
- any other detector's thresholds were calibrated at the run's target rate, its warning and
  critical levels at 10 and 100 times rarer (`calibration.py`): its flag is given the rarity of
  the rate its severity stands for.

The merged flag has the rarest contribution's kind, score and severity (the highest severity of
all), the threshold is the rarity of the target rate (one threshold for the operator), the
detector names of every contribution joined by "+", and a reason that keeps each contribution
in its own words.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping

from candlecast.core.anomalies.calibration import CRITICAL_RARITY, WARNING_RARITY, check_fpr
from candlecast.core.anomalies.flag import Flag, severity_rank
from candlecast.core.anomalies.likelihood import rarity_of_rate

RARITY = "rarity"
"""The `score_scale` of a detector whose flag scores are rarities already."""

_SEVERITY_RARITY = (1.0, WARNING_RARITY, CRITICAL_RARITY)


def calibrated_score(flag: Flag, target_fpr: float, scale: str | None = None) -> float:
    """The flag's score as a rarity in [0, 1] (see the module docstring)."""
    if scale == RARITY:
        return min(1.0, max(0.0, flag.score))
    rate = check_fpr(target_fpr) / _SEVERITY_RARITY[severity_rank(flag.severity)]
    return rarity_of_rate(rate)


def merge_flags(
    flags: Iterable[Flag], target_fpr: float, scales: Mapping[str, str | None] | None = None
) -> list[Flag]:
    """One flag per (series, candle), sorted by time: see the module docstring.

    `scales` maps a detector name to its `score_scale` (absent: not a rarity).
    """
    scales = scales or {}
    groups: dict[tuple[str, object], list[Flag]] = defaultdict(list)
    for flag in flags:
        groups[(flag.series, flag.timestamp)].append(flag)
    threshold = rarity_of_rate(check_fpr(target_fpr))
    merged = []
    for group in groups.values():
        scored = sorted(
            ((calibrated_score(f, target_fpr, scales.get(f.detector)), f) for f in group),
            key=lambda pair: (-pair[0], -severity_rank(pair[1].severity), pair[1].detector),
        )
        top_score, top = scored[0]
        detectors = list(dict.fromkeys(f.detector for _, f in scored))
        merged.append(
            Flag(
                series=top.series,
                timestamp=top.timestamp,
                kind=top.kind,
                detector="+".join(detectors),
                score=top_score,
                threshold=min(threshold, top_score),
                severity=max((f.severity for _, f in scored), key=severity_rank),
                reason=" | ".join(
                    f"{f.detector} ({f.kind}, calibrated {score:.2f}): {f.reason}"
                    for score, f in scored
                ),
            )
        )
    return sorted(merged, key=lambda f: (f.timestamp, f.series, f.kind))
