"""Registering a trained network: its id and file, what the registry keeps about its training,
and the library versions it was made with."""

from __future__ import annotations

import hashlib
import platform
import uuid
from pathlib import Path

import pandas as pd

from candlecast.core.config import CellConfig, Config
from candlecast.core.market.candles import SeriesKey
from candlecast.core.models.training import TrainingReport
from candlecast.core.pipeline.retraining import data_hash
from candlecast.core.storage.location import Location
from candlecast.core.storage.registry import ModelRecord, ModelRegistry


def library_versions() -> dict[str, str]:
    from importlib import metadata

    versions = {"python": platform.python_version()}
    for package in ("candlecast", "keras", "tensorflow-cpu", "tensorflow", "numpy", "pandas"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            continue
    return versions


def model_path(
    artifact_dir: Path | Location, key: SeriesKey, label: str, model_id: str
) -> Path | Location:
    """`<artifact_dir>/<series>/<target>/<cell>/<model_id>.keras` (a Location when remote)."""
    if isinstance(artifact_dir, Location) and not artifact_dir.is_local:
        return artifact_dir / key.slug / label / f"{model_id}.keras"
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
    path: Path | Location,
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
        target=config.model.target,
        path=str(path),
        file_sha256=Location.of(path).sha256(),  # a remote file: the bytes stored there
        created_at=now,
    )
    registry.add(record)
    return record
