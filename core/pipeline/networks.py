"""Train or reuse a network for one (series, cell): fingerprints, the retraining policy, the
registry round trip. Pure of Prefect; the flow wraps `obtain_network` in a task.
"""

from __future__ import annotations

import hashlib
import json
import logging
import platform
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from candlecast.core.config import CellConfig, Config
from candlecast.core.errors import ModelError
from candlecast.core.market.candles import SeriesKey
from candlecast.core.models.cell import Cell
from candlecast.core.models.global_network import GlobalNetwork
from candlecast.core.models.network import NetworkForecaster
from candlecast.core.models.training import TrainingReport
from candlecast.core.storage.atomic import sha256_file
from candlecast.core.storage.registry import ModelRecord, ModelRegistry

log = logging.getLogger("candlecast.modelling")


def library_versions() -> dict[str, str]:
    from importlib import metadata

    versions = {"python": platform.python_version()}
    for package in ("candlecast", "keras", "tensorflow-cpu", "tensorflow", "numpy", "pandas"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            continue
    return versions


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


def model_path(artifact_dir: Path, key: SeriesKey, label: str, model_id: str) -> Path:
    return Path(artifact_dir) / key.slug / label / f"{model_id}.keras"


def new_model_id(now: pd.Timestamp) -> str:
    return f"{now.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:8]}"


def training_metrics(report: TrainingReport | None, **extra: object) -> dict[str, object]:
    """What the registry keeps about a training (the backtest MAE is added later)."""
    return {
        "epochs": report.epochs if report else None,
        "best_epoch": report.best_epoch if report else None,
        "val_loss": report.val_loss if report else None,
        "fit_seconds": report.seconds if report else None,
    } | extra


def register_model(
    registry: ModelRegistry,
    *,
    model_id: str,
    series: str,
    label: str,
    cell_config: CellConfig,
    config: Config,
    config_hash: str,
    frames: list[pd.DataFrame],
    metrics: dict[str, object],
    path: Path,
    now: pd.Timestamp,
    params: dict[str, object] | None = None,
) -> ModelRecord:
    """Add the registry row of a saved model trained on `frames` (one per series)."""
    hashes = [data_hash(frame) for frame in frames]
    record = ModelRecord(
        model_id=model_id,
        series=series,
        model=label,
        cell=cell_config.name,
        head=config.model.head,
        params=cell_config.model_dump(mode="json") | (params or {}),
        config_hash=config_hash,
        data_start=min(pd.Timestamp(f.index[0]) for f in frames),
        data_end=max(pd.Timestamp(f.index[-1]) for f in frames),
        data_hash=hashes[0]
        if len(hashes) == 1
        else hashlib.sha256("".join(hashes).encode()).hexdigest()[:16],
        metrics=metrics,
        versions=library_versions(),
        seed=config.training.seed,
        path=str(path),
        file_sha256=sha256_file(path),
        created_at=now,
    )
    registry.add(record)
    return record


@dataclass
class ObtainedNetwork:
    forecaster: NetworkForecaster
    record: ModelRecord
    trained: bool
    note: str


def train_and_register(
    *,
    key: SeriesKey,
    cell_config: CellConfig,
    cells: Mapping[str, Cell],
    config: Config,
    frame: pd.DataFrame,
    y: pd.Series,
    registry: ModelRegistry,
    now: pd.Timestamp,
    warm_from: NetworkForecaster | None = None,
    note: str = "",
) -> ObtainedNetwork:
    """Fit on `frame`/`y` (the training part), save the .keras file, add the registry row."""
    cell = cells.get(cell_config.name)
    if cell is None:
        raise ModelError(f"cell {cell_config.name!r} is not registered")
    if warm_from is not None:
        forecaster = warm_from
        forecaster.fit(frame, y, warm=True)
    else:
        forecaster = NetworkForecaster(
            cell, cells, cell_config, config.model, config.training, key.timeframe
        )
        forecaster.fit(frame, y)
    model_id = new_model_id(now)
    path = forecaster.save(
        model_path(config.storage.resolved_artifact_dir, key, cell_config.id, model_id)
    )
    record = register_model(
        registry,
        model_id=model_id,
        series=str(key),
        label=cell_config.id,
        cell_config=cell_config,
        config=config,
        config_hash=model_config_hash(cell_config, config, key.timeframe),
        frames=[frame],
        metrics=training_metrics(forecaster.report, warm_start=warm_from is not None),
        path=path,
        now=now,
    )
    return ObtainedNetwork(forecaster, record, True, note)


def load_registered(record: ModelRecord, cells: Mapping[str, Cell]) -> NetworkForecaster:
    """Load a registered model, checking its file is the one registered (safe mode only)."""
    path = Path(record.path)
    if not path.exists():
        raise ModelError(f"model file {record.path!r} is missing")
    if sha256_file(path) != record.file_sha256:
        raise ModelError(f"model file {record.path!r} changed since it was registered (checksum)")
    return NetworkForecaster.load(path, cells)


def obtain_network(
    *,
    key: SeriesKey,
    cell_config: CellConfig,
    cells: Mapping[str, Cell],
    config: Config,
    frame: pd.DataFrame,
    y: pd.Series,
    registry: ModelRegistry,
    now: pd.Timestamp,
    mode: str = "auto",
) -> ObtainedNetwork:
    """Reuse the registered model when the policy allows and it loads; otherwise train."""
    record = registry.latest(str(key), cell_config.id)
    config_hash = model_config_hash(cell_config, config, key.timeframe)
    decision = retrain_decision(
        config, record, config_hash, now, pd.Timestamp(frame.index[-1]), mode
    )
    previous: NetworkForecaster | None = None
    if (
        record is not None
        and record.config_hash == config_hash
        and (not decision.retrain or decision.warm)
    ):
        try:
            previous = load_registered(record, cells)
        except ModelError as exc:
            log.warning(
                "%s/%s: %s; it is rejected and the model retrained", key, cell_config.id, exc
            )
            registry.reject(record.model_id, str(exc))
            decision = Decision(True, False, f"registered model unusable: {exc}")
            previous = None
    if not decision.retrain and previous is not None:
        return ObtainedNetwork(
            previous, record, False, f"reused {record.model_id}: {decision.reason}"
        )
    warm_from = previous if decision.warm else None
    return train_and_register(
        key=key,
        cell_config=cell_config,
        cells=cells,
        config=config,
        frame=frame,
        y=y,
        registry=registry,
        now=now,
        warm_from=warm_from,
        note=f"trained: {decision.reason}" + (" (warm start)" if warm_from else ""),
    )


class RegisteredNetwork:
    """A `Forecaster` whose `fit` goes through the registry: it reuses the registered model
    when the policy allows (no training at all) and trains and registers one otherwise."""

    family = "network"

    def __init__(self, obtain: Callable[..., ObtainedNetwork], name: str, horizon: int) -> None:
        self._obtain = obtain
        self.name = name
        self.horizon = horizon
        self.obtained: ObtainedNetwork | None = None

    def fit(self, frame: pd.DataFrame, y: pd.Series) -> None:
        self.obtained = self._obtain(frame=frame, y=y)

    def predict_at(self, frame: pd.DataFrame, y: pd.Series, origins) -> np.ndarray:
        if self.obtained is None:
            raise ModelError(f"{self.name}: predict before fit")
        return self.obtained.forecaster.predict_at(frame, y, origins)


def universe_id(series: list[str]) -> str:
    """A stable name for a set of series (the registry's `series` of a global model)."""
    digest = hashlib.sha256("\n".join(sorted(series)).encode()).hexdigest()[:10]
    return f"global:{digest}"


@dataclass
class ObtainedGlobal:
    network: GlobalNetwork
    record: ModelRecord
    trained: bool
    note: str


def obtain_global(
    *,
    parts: Mapping[str, tuple[pd.DataFrame, pd.Series]],
    timeframe: str,
    cell_config: CellConfig,
    cells: Mapping[str, Cell],
    config: Config,
    registry: ModelRegistry,
    now: pd.Timestamp,
    mode: str = "auto",
) -> ObtainedGlobal:
    """Reuse the registered global model of this universe and cell, or train and register one.

    `parts` are each series' training part (everything before its first backtest origin).
    """
    series = sorted(parts)
    universe = universe_id(series)
    label = f"{cell_config.id}@global"
    record = registry.latest(universe, label)
    config_hash = model_config_hash(cell_config, config, timeframe)
    train_end = min(pd.Timestamp(frame.index[-1]) for frame, _ in parts.values())
    decision = retrain_decision(config, record, config_hash, now, train_end, mode)
    if not decision.retrain and record is not None:
        try:
            network = GlobalNetwork.load(Path(record.path), cells)
            if sorted(network.series) == series:
                return ObtainedGlobal(network, record, False, f"reused {record.model_id}")
            decision = Decision(True, False, "the universe's series changed")
        except ModelError as exc:
            log.warning("%s/%s: %s; it is rejected and retrained", universe, label, exc)
            registry.reject(record.model_id, str(exc))
            decision = Decision(True, False, f"registered model unusable: {exc}")
    cell = cells.get(cell_config.name)
    network = GlobalNetwork(
        cell,
        cells,
        cell_config,
        config.model,
        config.training,
        timeframe,
        series,
        series_id=config.model.series_id,
    )
    network.fit(parts)
    model_id = new_model_id(now)
    path = network.save(
        Path(config.storage.resolved_artifact_dir)
        / "global"
        / universe.split(":")[1]
        / label
        / f"{model_id}.keras"
    )
    record = register_model(
        registry,
        model_id=model_id,
        series=universe,
        label=label,
        cell_config=cell_config,
        config=config,
        config_hash=config_hash,
        frames=[parts[s][0] for s in series],
        metrics=training_metrics(network.report),
        path=path,
        now=now,
        params={"series": series},
    )
    return ObtainedGlobal(network, record, True, f"trained: {decision.reason}")
