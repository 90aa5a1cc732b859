"""When a network is retrained: fingerprints of its configuration and of the candles it saw,
the policy (`training.retrain`: always, every N hours, on drift) and the drift check after a
reused model's backtest."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

import numpy as np
import pandas as pd

from candlecast.core.config import CellConfig, Config
from candlecast.core.market.candles import SeriesKey
from candlecast.core.storage.registry import ModelRecord, ModelRegistry


def model_config_hash(cell: CellConfig, config: Config, timeframe: str) -> str:
    """Everything that changes what a network is or learns; not the training budget."""
    relevant = {
        "cell": cell.model_dump(mode="json"),
        "model": config.model.model_dump(mode="json", exclude={"cells"}),
        "timeframe": timeframe,
        "seed": config.training.seed,
    }
    return hashlib.sha256(json.dumps(relevant, sort_keys=True).encode()).hexdigest()[:16]


def data_hash(frame: pd.DataFrame) -> str:
    """A fingerprint of the candles a model was trained on."""
    values = frame[["open", "high", "low", "close", "volume"]].to_numpy(dtype="float64")
    digest = hashlib.sha256(np.ascontiguousarray(values).tobytes())
    digest.update(pd.DatetimeIndex(frame.index).as_unit("s").asi8.tobytes())
    return digest.hexdigest()[:16]


@dataclass
class Decision:
    retrain: bool
    warm: bool
    reason: str


def retrain_decision(
    config: Config,
    record: ModelRecord | None,
    config_hash: str,
    now: pd.Timestamp,
    train_end: pd.Timestamp,
    mode: str = "auto",
) -> Decision:
    """Whether this run trains (and how) before any drift is known. `on_drift` reuses a
    matching model here; `drift_decision` may still ask for a retrain after the backtest.

    `train_end` is the newest candle this fit may see: a registered model trained on later
    candles would leak them into the backtest, so it is never reused for this fit.
    `mode`: "auto" follows `training.retrain`; "train" always trains; "forecast" reuses any
    usable model.
    """
    training = config.training
    if record is None:
        return Decision(True, False, "no registered model")
    if record.config_hash != config_hash:
        return Decision(True, False, "configuration changed since the registered model")
    if record.data_end > train_end:
        return Decision(True, False, "registered model saw candles after this fit's origin")
    if mode == "train":
        return Decision(True, training.warm_start_epochs > 0, "retraining was requested")
    if mode == "forecast":
        return Decision(False, False, "forecast-only run")
    if training.retrain == "always":
        return Decision(True, training.warm_start_epochs > 0, "policy 'always'")
    if training.retrain == "every":
        age = now - record.created_at
        limit = pd.Timedelta(hours=training.retrain_every_hours)
        if age >= limit:
            return Decision(
                True, training.warm_start_epochs > 0, f"model is {age} old (policy 'every' {limit})"
            )
        return Decision(False, False, f"model is {age} old, younger than {limit}")
    return Decision(False, False, "policy 'on_drift': reuse until errors drift")


def drift_decision(config: Config, record: ModelRecord | None, recent_mae: float) -> Decision:
    """`on_drift`: retrain when the recent backtest MAE is worse than at training time by
    `drift_factor`."""
    if config.training.retrain != "on_drift" or record is None:
        return Decision(False, False, "")
    trained_mae = record.metrics.get("mae")
    if not trained_mae or not np.isfinite(recent_mae):
        return Decision(False, False, "no error recorded at training time")
    ratio = recent_mae / trained_mae
    if ratio > config.training.drift_factor:
        return Decision(
            True,
            config.training.warm_start_epochs > 0,
            f"recent MAE {recent_mae:.4g} is {ratio:.2f}x the MAE at training "
            f"({trained_mae:.4g}), above drift_factor {config.training.drift_factor}",
        )
    return Decision(False, False, f"recent MAE is {ratio:.2f}x the MAE at training")


def expects_reuse(
    config: Config,
    registry: ModelRegistry,
    key: SeriesKey,
    cell: CellConfig,
    target: str,
    now: pd.Timestamp,
    mode: str = "auto",
) -> bool:
    """Whether this run will most likely reuse the registered network of `cell` for `target`
    rather than train one: `retrain_decision` on what the registry holds now, before the
    candles are loaded (so their newest time is taken as `now`). A scheduling hint only: the
    network's own task decides again on the loaded candles, and `drift_decision` may still
    retrain after the backtest."""
    narrowed = config.for_target(target)
    record = registry.latest(str(key), cell.id, target)
    config_hash = model_config_hash(cell, narrowed, key.timeframe)
    return not retrain_decision(narrowed, record, config_hash, now, now, mode).retrain
