"""Train or reuse a network for one (series, cell): fingerprints, the retraining policy, the
registry round trip. Pure of Prefect; the flow wraps `obtain_network` in a task.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import numpy as np
import pandas as pd

from candlecast.core.config import CellConfig, Config
from candlecast.core.errors import ModelError, StorageError
from candlecast.core.evaluation.folds import FoldSpec
from candlecast.core.market.candles import SeriesKey
from candlecast.core.models.bundle import fetched_bundle
from candlecast.core.models.cache import MODELS
from candlecast.core.models.cell import Cell
from candlecast.core.models.global_network import GlobalNetwork
from candlecast.core.models.network import NetworkForecaster
from candlecast.core.models.shared import load_shared
from candlecast.core.pipeline.registration import (
    model_path,
    new_model_id,
    register_model,
    training_metrics,
)
from candlecast.core.pipeline.retraining import Decision, model_config_hash, retrain_decision
from candlecast.core.pipeline.stored_backtests import StoredForecasts, span_origins
from candlecast.core.storage.atomic import sha256_file
from candlecast.core.storage.backtest_store import BacktestStore
from candlecast.core.storage.location import Location
from candlecast.core.storage.registry import ModelRecord, ModelRegistry

log = logging.getLogger("candlecast.modelling")

T = TypeVar("T")


@dataclass
class ObtainedNetwork:
    forecaster: NetworkForecaster
    record: ModelRecord
    trained: bool
    note: str
    rejected: str | None = None  # why the registered model could not be used (it was retrained)


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
        model_path(
            config.storage.artifacts,
            key,
            f"{config.model.target}/{cell_config.id}",
            model_id,
        )
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


def load_registered(
    record: ModelRecord,
    cells: Mapping[str, Cell],
    location: Location | None = None,
    *,
    cached: bool = True,
) -> NetworkForecaster:
    """Load a registered model, checking its file is the one registered (safe mode only).

    `location`: the record's path with the storage options (default: the path as it is); a
    remote file is fetched once, and the checksum is computed on the bytes Keras then loads.
    `cached`: for forecasting, through the process's model cache (`core.models.cache`, keyed by
    path and checksum) and its architecture's shared graph (`core.models.shared`), shared with
    later callers; a caller that trains it further passes False (a model of its own). A local
    file is checked against its checksum at every use, a cached remote one when it was fetched."""
    location = location or Location.of(record.path)
    if not cached:
        return _registered(record, location, lambda path: NetworkForecaster.load(path, cells))
    return _registered(record, location, lambda path: load_shared(path, cells), cache=True)


def _registered(
    record: ModelRecord, location: Location, load: Callable[[Path], T], *, cache: bool = False
) -> T:
    """`load(path)` of a registered file whose checksum is the registered one: a local file is
    checked at every use, a remote one when it is fetched; with `cache`, through the process's
    model cache, where a remote object is known by its version (size, ETag): one that changed
    since it was cached is fetched and checked again."""
    key = record.path
    if location.is_local:
        if not location.path.exists():
            raise ModelError(f"model file {record.path!r} is missing")
        _check_registered(location.path, record)
    elif cache:
        try:
            key = f"{record.path}#{location.version()}"
        except FileNotFoundError:
            raise ModelError(f"model file {record.path!r} is missing") from None
        except StorageError as exc:
            raise ModelError(f"model file {record.path!r} is unreadable: {exc}") from None

    def fetch_and_load() -> T:
        with fetched_bundle(location) as path:
            if not location.is_local:
                _check_registered(path, record)
            return load(path)

    if not cache:
        return fetch_and_load()
    return MODELS.get(key, record.file_sha256, fetch_and_load)


def _check_registered(path: Path, record: ModelRecord) -> None:
    if sha256_file(path) != record.file_sha256:
        raise ModelError(f"model file {record.path!r} changed since it was registered (checksum)")


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
    """Reuse the registered model when the policy allows and it loads; otherwise train.
    `config` is narrowed to one target (`Config.for_target`)."""
    record = registry.latest(str(key), cell_config.id, config.model.target)
    config_hash = model_config_hash(cell_config, config, key.timeframe)
    decision = retrain_decision(
        config, record, config_hash, now, pd.Timestamp(frame.index[-1]), mode
    )
    previous: NetworkForecaster | None = None
    rejected: str | None = None
    if (
        record is not None
        and record.config_hash == config_hash
        and (not decision.retrain or decision.warm)
    ):
        try:
            # a warm start trains the loaded model further: its own copy, not the cache's
            previous = load_registered(
                record, cells, config.storage.location(record.path), cached=not decision.retrain
            )
        except ModelError as exc:
            log.warning(
                "%s/%s: %s; it is rejected and the model retrained", key, cell_config.id, exc
            )
            registry.reject(record.model_id, str(exc))
            decision = Decision(True, False, f"registered model unusable: {exc}")
            previous, rejected = None, f"registered model {record.model_id} rejected: {exc}"
    if not decision.retrain and previous is not None:
        return ObtainedNetwork(
            previous, record, False, f"reused {record.model_id}: {decision.reason}"
        )
    warm_from = previous if decision.warm else None
    obtained = train_and_register(
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
    obtained.rejected = rejected
    return obtained


class RegisteredNetwork:
    """A `Forecaster` whose `fit` goes through the registry: it reuses the registered model
    when the policy allows (no training at all) and trains and registers one otherwise.

    With `stored` (the whole series, its fold layout and where backtests are stored), `fit`
    then forecasts from every origin this and the next runs need in one batched call, reading
    what the store has for this model version (`stored_backtests`); `predict_at` looks up."""

    family = "network"

    def __init__(
        self,
        obtain: Callable[..., ObtainedNetwork],
        name: str,
        horizon: int,
        stored: StoredSpec | None = None,
    ) -> None:
        self._obtain = obtain
        self.name = name
        self.horizon = horizon
        self.obtained: ObtainedNetwork | None = None
        self._stored_spec = stored
        self.stored: StoredForecasts | None = None

    def fit(self, frame: pd.DataFrame, y: pd.Series) -> None:
        self.obtained = self._obtain(frame=frame, y=y)
        spec = self._stored_spec
        if spec is not None:
            self.stored = StoredForecasts(
                self.obtained.forecaster, self.obtained.record.model_id, spec.series, spec.store
            )
            self.stored.prime(spec.frame, spec.y, span_origins(len(spec.y), spec.folds))

    def predict_at(self, frame: pd.DataFrame, y: pd.Series, origins) -> np.ndarray:
        if self.obtained is None:
            raise ModelError(f"{self.name}: predict before fit")
        if self.stored is not None:
            return self.stored.predict_at(frame, y, origins)
        return self.obtained.forecaster.predict_at(frame, y, origins)


@dataclass(frozen=True)
class StoredSpec:
    """What `RegisteredNetwork` needs to batch and store its backtest forecasts."""

    series: str
    frame: pd.DataFrame
    y: pd.Series
    folds: FoldSpec
    store: BacktestStore | None


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
    record = registry.latest(universe, label, config.model.target)
    config_hash = model_config_hash(cell_config, config, timeframe)
    train_end = min(pd.Timestamp(frame.index[-1]) for frame, _ in parts.values())
    decision = retrain_decision(config, record, config_hash, now, train_end, mode)
    if not decision.retrain and record is not None:
        try:
            network = _registered(
                record,
                config.storage.location(record.path),
                lambda path: GlobalNetwork.load(path, cells),
                cache=True,
            )
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
        config.storage.artifacts
        / "global"
        / universe.split(":")[1]
        / config.model.target
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
