"""Forecast targets (which candle field) and target transforms with exact inverses.

A target is what forecasts are published in and metrics are computed on: `close` prices,
`volume`, the high-low `range`. A transform is what the network learns instead:

  log_return        g = log,   relative to the origin: the model predicts log(y[o+k] / y[o])
  difference        g = id,    relative: y[o+k] - y[o]
  level             g = id,    absolute: y[o+k]
  log1p             g = log1p, absolute: log1p(y[o+k])
  log1p_difference  g = log1p, relative: log1p(y[o+k]) - log1p(y[o])

`encode` and `decode` are exact inverses (to float rounding): decode(encode(y)) == y.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from candlecast.core.errors import ConfigError, DataError

_FIELDS = ("close", "open", "high", "low", "volume", "range")
PRICES = ("close", "open", "high", "low")
"""Targets that are prices: positive, forecast in log returns, bands relative to the level."""


def target_series(frame: pd.DataFrame, field: str) -> pd.Series:
    """The values a forecast of `field` is about, aligned with the candle frame."""
    if field in ("close", "open", "high", "low", "volume"):
        values = frame[field]
    elif field == "range":
        values = frame["high"] - frame["low"]
    else:
        raise ConfigError(f"target {field!r} is not a candle field; allowed: {', '.join(_FIELDS)}")
    return values.astype("float64").rename(field)


@dataclass(frozen=True)
class Transform:
    name: str
    pointwise: str  # "log" | "identity" | "log1p"
    relative: bool  # learn changes from the origin (True) or levels (False)

    def forward(self, y: np.ndarray) -> np.ndarray:
        """g(y): the pointwise map into model space."""
        y = np.asarray(y, dtype="float64")
        if self.pointwise == "log":
            if np.any(y[np.isfinite(y)] <= 0):
                raise DataError(
                    f"transform {self.name!r} takes logs and needs positive values; "
                    f"found {int(np.sum(y <= 0))} value(s) <= 0 (use 'difference' or 'level')"
                )
            return np.log(y)
        if self.pointwise == "log1p":
            if np.any(y[np.isfinite(y)] <= -1):
                raise DataError(f"transform {self.name!r} needs values > -1")
            return np.log1p(y)
        return y.copy()

    def backward(self, z: np.ndarray) -> np.ndarray:
        """g^-1(z)."""
        z = np.asarray(z, dtype="float64")
        if self.pointwise == "log":
            return np.exp(z)
        if self.pointwise == "log1p":
            return np.expm1(z)
        return z.copy()

    def encode(self, y_future: np.ndarray, y_origin: np.ndarray) -> np.ndarray:
        """Targets in model space: `[n, h]` future values given `[n]` origin values."""
        g = self.forward(y_future)
        if self.relative:
            return g - self.forward(y_origin)[:, None]
        return g

    def decode(self, z: np.ndarray, y_origin: np.ndarray) -> np.ndarray:
        """Exact inverse of `encode`: `[n, h]` model-space values back to target values."""
        z = np.asarray(z, dtype="float64")
        if self.relative:
            return self.backward(z + self.forward(y_origin)[:, None])
        return self.backward(z)

    def step_changes(self, y: np.ndarray) -> np.ndarray:
        """The input channel for the target: one-step changes of g(y) (relative) or g(y).

        Element 0 of a relative transform has no predecessor and is 0.
        """
        g = self.forward(y)
        if not self.relative:
            return g
        out = np.zeros_like(g)
        out[1:] = np.diff(g)
        return out


TRANSFORMS: dict[str, Transform] = {
    "log_return": Transform("log_return", "log", relative=True),
    "difference": Transform("difference", "identity", relative=True),
    "level": Transform("level", "identity", relative=False),
    "log1p": Transform("log1p", "log1p", relative=False),
    "log1p_difference": Transform("log1p_difference", "log1p", relative=True),
}


def get_transform(name: str) -> Transform:
    try:
        return TRANSFORMS[name]
    except KeyError:
        raise ConfigError(
            f"transform {name!r} is unknown; allowed: {', '.join(TRANSFORMS)}"
        ) from None
