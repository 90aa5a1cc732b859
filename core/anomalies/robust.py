"""Robust location and scale: what every anomaly score is measured against."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

MAD_TO_SIGMA = 1.4826
"""1 / Phi^-1(3/4): the median absolute deviation of a normal sample times this is its sigma."""

MEAN_AD_TO_SIGMA = 1.2533
"""sqrt(pi / 2): the mean absolute deviation of a normal sample times this is its sigma."""

TINY_SCALE = 1e-12
"""Scale used for a constant history, so that any change from it scores as huge, not infinite."""


def robust_scale(values: ArrayLike) -> float:
    """Sigma estimated as 1.4826 x MAD of the finite `values`.

    Falls back to the mean absolute deviation when more than half the values are equal (MAD 0,
    e.g. a price that rarely trades), and to `TINY_SCALE` for a constant or empty history.
    """
    x = np.asarray(values, dtype="float64")
    x = x[np.isfinite(x)]
    if x.size == 0:
        return TINY_SCALE
    deviation = np.abs(x - np.median(x))
    mad = float(np.median(deviation))
    if mad > 0:
        return MAD_TO_SIGMA * mad
    mean_ad = float(np.mean(deviation))
    if mean_ad > 0:
        return MEAN_AD_TO_SIGMA * mean_ad
    return TINY_SCALE
