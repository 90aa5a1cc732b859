"""A recurrent network as a `Forecaster`: candles in, `horizon` target values out.

Data path (shapes for window W, horizon H, C input channels, K known channels):
  candles -> causal channels `[n, C]` (features.py) -> standardised with a scaler fitted on the
  training rows -> input windows `[samples, W, C]` + calendar of the forecast steps `[samples, H, K]`
  -> network -> standardised model-space targets `[samples, H]` -> inverse scaling -> inverse
  transform (exact) -> target values `[samples, H]`.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from candlecast.core.config import CellConfig, ModelConfig, TrainingConfig
from candlecast.core.errors import DataError, ModelError
from candlecast.core.market.timeframes import seasonal_periods, timeframe_offset
from candlecast.core.models.builder import Architecture, build_model, make_loss, make_optimizer
from candlecast.core.models.bundle import load_bundle, save_bundle
from candlecast.core.models.cell import Cell
from candlecast.core.models.features import calendar_features, input_channels
from candlecast.core.models.scaling import (
    Standardizer,
    apply_standardizer,
    fit_standardizer,
    invert_standardizer,
)
from candlecast.core.models.targets import get_transform
from candlecast.core.models.training import (
    TrainingReport,
    TrainingSet,
    construction_turn,
    deterministic_construction,
    fit,
    seed_everything,
    split_validation,
    training_turn,
)
from candlecast.core.models.windows import future_values, input_windows, training_origins
from candlecast.core.storage.location import Location

FORMAT_VERSION = 1


class NetworkForecaster:
    """One cell, one head, one series (or several: see `fit_many`)."""

    family = "network"

    def __init__(
        self,
        cell: Cell | None,
        cells: Mapping[str, Cell],
        cell_config: CellConfig,
        model: ModelConfig,
        training: TrainingConfig,
        timeframe: str,
    ) -> None:
        self.cell = cell
        self.cells = cells
        self.cell_config = cell_config
        self.model_config = model
        self.training = training
        self.timeframe = timeframe
        self.name = cell_config.id
        self.horizon = model.horizon
        self.window = model.window
        self.head = model.head
        self.transform = get_transform(model.resolved_transform)
        self.features = list(model.features)
        self.keras_model: Any = None
        self.input_scaler: Standardizer | None = None
        self.target_scaler: Standardizer | None = None
        self.channel_names: list[str] = []
        self.report: TrainingReport | None = None
        self.fit_count = 0
        self.id_vector: np.ndarray | None = None  # one-hot series id (global models only)
        self._compiled: tuple[Any, dict] | None = None  # (keras model, its graphs by shapes)

    # ---- data --------------------------------------------------------------------------------
    @property
    def known(self) -> int:
        """Known-in-advance channels per forecast step (calendar, seasonal lags), 0 when none."""
        calendar = 0
        if "calendar" in self.features:
            calendar = calendar_features(
                pd.DatetimeIndex([pd.Timestamp(0, tz="UTC")]), self.timeframe
            ).shape[1]
        return calendar + len(self.lag_periods)

    @property
    def lag_periods(self) -> list[int]:
        """Feature "seasonal": the seasonal periods at least `horizon` long, whose lagged values
        (one period before each forecast step) are all known at the origin."""
        if "seasonal" not in self.features:
            return []
        return [p for p in seasonal_periods(self.timeframe) if p >= self.horizon]

    def _channels(self, frame: pd.DataFrame, y: pd.Series) -> np.ndarray:
        channels, names = input_channels(frame, y, self.transform, self.features, self.timeframe)
        self.channel_names = names
        return channels  # [n, C]

    def _future_known(
        self, frame: pd.DataFrame, origins: np.ndarray, values: np.ndarray | None = None
    ) -> np.ndarray:
        """What is known about the H steps after each origin: `[len(origins), H, K]`.

        Calendar features of each step; with feature "seasonal", the target one period before
        each step (all at or before the origin), in model space and scaled like the targets.
        """
        parts = []
        if "calendar" in self.features:
            step = timeframe_offset(self.timeframe)
            base = pd.DatetimeIndex(frame.index)[origins]
            times = [base + step * (k + 1) for k in range(self.horizon)]
            parts.append(
                np.stack([calendar_features(pd.DatetimeIndex(t), self.timeframe) for t in times], 1)
            )
        if self.lag_periods:
            if values is None or self.target_scaler is None:
                raise ModelError(f"{self.name}: seasonal lags need the target and its scaler")
            g = self.transform.forward(values)
            steps = np.arange(1, self.horizon + 1)
            for period in self.lag_periods:
                positions = origins[:, None] + steps[None, :] - period  # [n, H], all <= origin
                lagged = g[np.clip(positions, 0, None)]
                if self.transform.relative:
                    lagged = lagged - g[origins][:, None]
                lagged = np.where(positions >= 0, lagged, self.target_scaler.mean)
                parts.append(apply_standardizer(self.target_scaler, lagged)[..., None])
        return np.concatenate(parts, axis=2)  # [len(origins), H, K]

    def _inputs(
        self,
        frame: pd.DataFrame,
        channels: np.ndarray,
        origins: np.ndarray,
        values: np.ndarray | None = None,
    ) -> dict[str, np.ndarray]:
        scaled = apply_standardizer(self.input_scaler, channels)
        if self.id_vector is not None:  # global models: which series, after scaling
            constant = np.broadcast_to(self.id_vector, (len(scaled), len(self.id_vector)))
            scaled = np.concatenate([scaled, constant], axis=1)
        inputs = {"history": input_windows(scaled, origins, self.window).astype("float32")}
        if self.known and self.head != "seq2seq":
            inputs["future"] = self._future_known(frame, origins, values).astype("float32")
        return inputs

    def _targets(self, y: np.ndarray, channels: np.ndarray, origins: np.ndarray) -> np.ndarray:
        if self.head == "seq2seq":
            # next-step target channel at every window position: [samples, W]
            nxt = input_windows(channels[:, :1], origins + 1, self.window)[..., 0]
            return nxt
        return self.transform.encode(
            future_values(y, origins, self.horizon), y[origins]
        )  # [samples, H]

    def _check(self, frame: pd.DataFrame, y: pd.Series) -> None:
        if len(frame) != len(y):
            raise DataError(
                f"frame ({len(frame)} rows) and target ({len(y)} values) differ in length"
            )
        if not np.all(np.isfinite(y.to_numpy(dtype="float64"))):
            raise DataError("the target has NaN or infinite values; validate the candles first")

    # ---- training ------------------------------------------------------------------------------
    def training_set(self, frame: pd.DataFrame, y: pd.Series, *, fit_scalers: bool) -> TrainingSet:
        """Samples from all of `frame`/`y` (scalers fitted on it unless `fit_scalers=False`),
        with this series' own chronological validation tail."""
        self._check(frame, y)
        values = y.to_numpy(dtype="float64")
        channels = self._channels(frame, y)
        origins = training_origins(len(values), self.window, self.horizon)
        if self.head == "seq2seq":
            origins = origins[origins + 1 < len(values)]
        if self.training.max_windows:
            origins = origins[-self.training.max_windows :]
        synthetic = (
            frame["synthetic"].to_numpy(dtype=bool)
            if "synthetic" in frame
            else np.zeros(len(values), bool)
        )
        weights = (~future_values(synthetic, origins, self.horizon).any(axis=1)).astype("float32")
        if fit_scalers:
            rows = np.arange(1, origins[-1] + 1)
            self.input_scaler = fit_standardizer(channels[rows], weights=~synthetic[rows])
        raw_targets = self._targets(values, channels, origins)
        if self.head == "seq2seq":
            targets = (raw_targets - self.input_scaler.mean[0]) / self.input_scaler.std[0]
        else:
            if fit_scalers:
                self.target_scaler = fit_standardizer(raw_targets, weights=weights)
            targets = apply_standardizer(self.target_scaler, raw_targets)
        train_idx, val_idx = split_validation(
            len(origins), self.training.validation_fraction, gap=self.horizon
        )
        return TrainingSet(
            self._inputs(frame, channels, origins, values),
            targets.astype("float32"),
            weights,
            train_idx,
            val_idx,
        )

    def build(self, channels: int) -> None:
        """A fresh Keras model around this network's cell."""
        if self.cell is None:
            raise ModelError(f"{self.name}: no cell plugin to build a model from")
        arch = Architecture(
            head=self.head,
            window=self.window,
            horizon=self.horizon,
            channels=channels,
            known=self.known,
            units=self.cell_config.units,
            layers=self.cell_config.layers,
            dropout=self.cell_config.dropout,
            activation=self.cell_config.activation,
            params=self.cell_config.params,
        )
        with construction_turn(), deterministic_construction(self.training.seed):
            self.keras_model = build_model(self.cell, self.cells, arch)

    def train(self, data: TrainingSet, *, warm: bool = False) -> TrainingReport:
        """Fit the Keras model on prepared samples (the same seed gives the same weights)."""
        epochs = (
            self.training.warm_start_epochs
            if warm and self.training.warm_start_epochs
            else self.training.epochs
        )
        self.report = fit(
            self.keras_model,
            data.inputs,
            data.targets,
            data.weights,
            data.train_idx,
            data.val_idx,
            loss=make_loss(self.model_config.loss),
            optimizer=make_optimizer(self.model_config.optimizer, self.model_config.learning_rate),
            epochs=epochs,
            batch_size=self.training.batch_size,
            patience=self.training.patience,
        )
        self.fit_count += 1
        return self.report

    # ---- Forecaster protocol -------------------------------------------------------------------
    def fit(self, frame: pd.DataFrame, y: pd.Series, *, warm: bool = False) -> TrainingReport:
        """Train on all of `frame`/`y`. `warm=True` continues the current weights and scalers."""
        if warm and self.keras_model is None:
            raise ModelError(f"{self.name}: warm start needs a trained or loaded model")
        with training_turn():
            seed_everything(self.training.seed)
            data = self.training_set(frame, y, fit_scalers=not warm)
            if not warm:
                self.build(data.inputs["history"].shape[2])
            return self.train(data, warm=warm)

    def predict_at(self, frame: pd.DataFrame, y: pd.Series, origins: Sequence[int]) -> np.ndarray:
        """`[len(origins), horizon]` forecasts in target units."""
        if self.keras_model is None or self.input_scaler is None:
            raise ModelError(f"{self.name}: predict before fit (no trained or loaded model)")
        self._check(frame, y)
        origins = np.asarray(origins, dtype="int64")
        if len(origins) == 0:
            return np.zeros((0, self.horizon))
        values = y.to_numpy(dtype="float64")
        channels = self._channels(frame, y)
        inputs = self._inputs(frame, channels, origins, values)
        if self.head == "seq2seq":
            z = self._iterate(frame, inputs["history"], origins)
        else:
            scaled = self._call(inputs)
            z = invert_standardizer(self.target_scaler, scaled)
        return self.transform.decode(z, values[origins])

    def _call(self, inputs: dict[str, np.ndarray], chunk: int = 4096) -> np.ndarray:
        """The model on `inputs` in chunks, through one compiled graph per model, traced once
        for any batch size (an input signature with an open batch axis)."""
        inputs = {k: np.asarray(v, dtype="float32") for k, v in inputs.items()}
        shapes = tuple(sorted((k, v.shape[1:]) for k, v in inputs.items()))
        if self._compiled is None or self._compiled[0] is not self.keras_model:
            self._compiled = (self.keras_model, graphs_of(self.keras_model))
        graphs = self._compiled[1]
        with _GRAPHS_LOCK:
            if shapes not in graphs:
                import tensorflow as tf

                signature = {k: tf.TensorSpec((None, *shape), tf.float32) for k, shape in shapes}
                graphs[shapes] = tf.function(
                    _Inference(self.keras_model), input_signature=[signature]
                )
            graph = graphs[shapes]
        n = len(inputs["history"])
        parts = [
            np.asarray(graph({k: v[i : i + chunk] for k, v in inputs.items()}), dtype="float64")
            for i in range(0, n, chunk)
        ]
        return np.concatenate(parts, axis=0)

    def _iterate(self, frame: pd.DataFrame, history: np.ndarray, origins: np.ndarray) -> np.ndarray:
        """seq2seq: feed each predicted step back in; returns model-space targets `[n, H]`."""
        mean0, std0 = self.input_scaler.mean[0], self.input_scaler.std[0]
        known = None
        if self.known:
            future = self._future_known(frame, origins)  # [n, H, K] raw calendar
            k = future.shape[2]
            known = (future - self.input_scaler.mean[1 : 1 + k]) / self.input_scaler.std[1 : 1 + k]
        window = history.astype("float32").copy()
        steps = np.zeros((len(origins), self.horizon))
        for k in range(self.horizon):
            out = self._call({"history": window})  # [n, W]
            nxt = out[:, -1]
            steps[:, k] = nxt * std0 + mean0
            row = window[:, -1:].copy()  # constant channels (a series id) carry over
            row[:, 0, 0] = nxt
            if known is not None:
                row[:, 0, 1 : 1 + known.shape[2]] = known[:, k]
            window = np.concatenate([window[:, 1:], row], axis=1)
        if self.transform.relative:
            return np.cumsum(steps, axis=1)
        return steps

    # ---- persistence ----------------------------------------------------------------------------
    def preprocessing(self) -> dict[str, Any]:
        return {
            "format": FORMAT_VERSION,
            "name": self.name,
            "cell": self.cell_config.model_dump(mode="json"),
            "model": self.model_config.model_dump(mode="json"),
            "training": self.training.model_dump(mode="json"),
            "timeframe": self.timeframe,
            "channels": self.channel_names,
            "input_scaler": self.input_scaler.to_dict() if self.input_scaler else None,
            "target_scaler": self.target_scaler.to_dict() if self.target_scaler else None,
            "id_vector": self.id_vector.tolist() if self.id_vector is not None else None,
        }

    def save(self, path: Path | Location) -> Path | Location:
        if self.keras_model is None:
            raise ModelError(f"{self.name}: nothing to save (not trained)")
        return save_bundle(path, self.keras_model, self.preprocessing())

    @classmethod
    def load(cls, path: Path, cells: Mapping[str, Cell] | None = None) -> NetworkForecaster:
        """Load a saved network (safe mode). `cells` lets a later warm start rebuild nothing."""
        keras_model, meta = load_bundle(path)
        check_format(meta, path)
        return cls.restore(meta, keras_model, cells, path)

    @classmethod
    def restore(
        cls, meta: dict[str, Any], keras_model: Any, cells: Mapping[str, Cell] | None, path: Path
    ) -> NetworkForecaster:
        """A forecaster from its `preprocessing()` record and a loaded Keras model."""
        cell_config = CellConfig.model_validate(meta["cell"])
        forecaster = cls(
            (cells or {}).get(cell_config.name),
            cells or {},
            cell_config,
            ModelConfig.model_validate(meta["model"]),
            TrainingConfig.model_validate(meta["training"]),
            meta["timeframe"],
        )
        forecaster.keras_model = keras_model
        forecaster.channel_names = meta["channels"]
        forecaster.input_scaler = Standardizer.from_dict(meta["input_scaler"])
        if meta.get("target_scaler"):
            forecaster.target_scaler = Standardizer.from_dict(meta["target_scaler"])
        if meta.get("id_vector") is not None:
            forecaster.id_vector = np.asarray(meta["id_vector"], dtype="float64")
        ids = 0 if forecaster.id_vector is None else len(forecaster.id_vector)
        expected = (forecaster.window, len(forecaster.channel_names) + ids)
        got = tuple(keras_model.inputs[0].shape[1:])
        if got != expected:
            raise ModelError(
                f"model {str(path)!r} takes inputs {got} but its metadata says {expected}: "
                "the file and its metadata do not match"
            )
        return forecaster


def check_format(meta: dict[str, Any], path: Path) -> None:
    if meta.get("format") != FORMAT_VERSION:
        raise ModelError(
            f"model {str(path)!r} has format {meta.get('format')}, expected {FORMAT_VERSION}"
        )


_GRAPHS: weakref.WeakKeyDictionary[Any, dict] = weakref.WeakKeyDictionary()
_GRAPHS_LOCK = threading.Lock()


def graphs_of(keras_model: Any) -> dict:
    """The traced inference graphs of one Keras model, by input shapes: shared by every
    forecaster over that model (a global model's members), dropped with the model."""
    with _GRAPHS_LOCK:
        graphs = _GRAPHS.get(keras_model)
        if graphs is None:
            graphs = _GRAPHS[keras_model] = {}
        return graphs


class _Inference:
    """`model(inputs, training=False)` as a callable of its own. TensorFlow counts retracing
    per Python function (its code object): with one shared lambda, every new model's first
    trace counted as a retrace of the models before it, and a run warned after five.

    It holds its model weakly: the graph is the value of the model's entry in `_GRAPHS`, and a
    value that held its own key alive kept every model a process had ever forecast with (and
    its graphs) for good, however the model cache let it go."""

    def __init__(self, model: Any) -> None:
        self.model = weakref.ref(model)
        self.__name__ = f"{getattr(model, 'name', 'model')}_inference"

    def __call__(self, inputs: dict[str, Any]) -> Any:
        model = self.model()
        if model is None:  # the graph outlived its model: never traced again
            raise ModelError("inference graph called after its model was released")
        return model(inputs, training=False)
