"""Standardisation fitted on training data only: fit, apply and invert are separate functions."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

_MIN_STD = 1e-8


@dataclass(frozen=True)
class Standardizer:
    """Per-column mean and standard deviation (the last axis of the data it was fitted on)."""

    mean: np.ndarray
    std: np.ndarray

    def to_dict(self) -> dict[str, list[float]]:
        return {"mean": self.mean.tolist(), "std": self.std.tolist()}

    @classmethod
    def from_dict(cls, data: dict[str, list[float]]) -> Standardizer:
        return cls(
            np.asarray(data["mean"], dtype="float64"), np.asarray(data["std"], dtype="float64")
        )


def fit_standardizer(train: np.ndarray, weights: np.ndarray | None = None) -> Standardizer:
    """Fit on `train` `[..., columns]`, flattening all leading axes; NaN-aware.

    `weights` (same leading shape) excludes rows with weight 0 (synthetic candles).
    """
    flat = np.asarray(train, dtype="float64").reshape(-1, np.shape(train)[-1])
    if weights is not None:
        flat = flat[np.asarray(weights).reshape(-1) > 0]
    mean = np.nanmean(flat, axis=0) if len(flat) else np.zeros(flat.shape[1])
    std = np.nanstd(flat, axis=0) if len(flat) else np.ones(flat.shape[1])
    std = np.where(np.isfinite(std) & (std > _MIN_STD), std, 1.0)
    mean = np.where(np.isfinite(mean), mean, 0.0)
    return Standardizer(mean, std)


def apply_standardizer(scaler: Standardizer, x: np.ndarray) -> np.ndarray:
    return (np.asarray(x, dtype="float64") - scaler.mean) / scaler.std


def invert_standardizer(scaler: Standardizer, z: np.ndarray) -> np.ndarray:
    return np.asarray(z, dtype="float64") * scaler.std + scaler.mean
