"""Registered networks of one architecture share one Keras model and one traced graph.

Loading a `.keras` file rebuilds its model from the saved architecture, and the first forecast
of every model traces its own inference graph: together about a second of CPU per model, paid
again for every model of every series in every fresh process. Networks built from the same
cell, head, window, horizon and inputs (every series' model of one cell and target) differ only
in their weights. So one *template* model per architecture is loaded (and traced) once per
process; every other file of that architecture has only its weights read into the template
(no rebuild), kept as arrays, and forecasts by setting them into the template under the
template's lock before calling the shared graph. The numbers are the same: the same graph with
the same weights.

The weights are read straight from the file's `model.weights.h5` member, its datasets taken in
the order of the template's weights. That order is Keras' own: once per template, Keras'
`load_weights` loads a copy of the template file's weights in which every dataset holds its own
number, and the number each of the template's weights then holds names its dataset. Keras'
`load_weights` on a `.keras` file reads the HDF5 file through the zip member, seeking back and
forth in the compressed stream and assigning each variable: several times the cost of reading
the member once and taking its arrays. Where the order cannot be told that way (a weight that
is not a single number after it), every file of that template goes through `load_weights`.

A forecaster loaded this way is for forecasting only: training it further (a warm start) needs
its own model (`NetworkForecaster.load`).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any, cast

import numpy as np

from candlecast.core.errors import ModelError
from candlecast.core.models.bundle import load_bundle, read_bundle_meta
from candlecast.core.models.cell import Cell
from candlecast.core.models.network import NetworkForecaster, check_format


class _Template:
    def __init__(self, model: Any, layers: tuple[str, ...], path: Path) -> None:
        self.model = model
        self.layers = layers  # the saved file's layer classes (see `_layer_classes`)
        self.lock = threading.RLock()
        self.shapes = [tuple(w.shape) for w in model.weights]
        self.dtypes = [np.dtype(w.dtype) for w in model.get_weights()]
        # the weights file's dataset of each of the model's weights, in order (None: unknown)
        self.order = _weight_order(model, path)


WEIGHTS_MEMBER = "model.weights.h5"


def _datasets(path: Path, names: list[str] | None = None) -> dict[str, np.ndarray]:
    """The datasets of a `.keras` file's weights (those of `names`, default all; the optimizer's
    state is among them), by their paths in the HDF5 file; a missing name is a KeyError."""
    import io
    import zipfile

    import h5py

    with zipfile.ZipFile(path) as archive:
        data = archive.read(WEIGHTS_MEMBER)
    with h5py.File(io.BytesIO(data), "r") as h5:
        if names is None:
            names = []
            h5.visititems(
                lambda name, node: names.append(name) if isinstance(node, h5py.Dataset) else None
            )
        return {name: h5[name][()] for name in names}


def _weight_order(model: Any, path: Path) -> list[str] | None:
    """The dataset path of each of `model.weights`, as Keras' `load_weights` maps them: it loads
    a copy of `path`'s weights file whose datasets each hold their own number (1, 2, ...) and
    reads which number each weight got (the optimizer's datasets get none). None where that
    does not tell (a weight left holding more than one value, or a number two weights share),
    or where Keras refuses."""
    import tempfile

    import h5py

    try:
        datasets = _datasets(path)
        names = sorted(datasets)
        kept = [np.array(w) for w in model.get_weights()]
        with tempfile.TemporaryDirectory(prefix="candlecast-order-") as folder:
            numbered = Path(folder) / "numbered.weights.h5"
            with h5py.File(numbered, "w") as h5:
                for number, name in enumerate(names, start=1):
                    value = datasets[name]
                    h5.create_dataset(name, data=np.full(value.shape, number, dtype=value.dtype))
            try:
                model.load_weights(numbered)
                got = [np.unique(np.asarray(w)) for w in model.get_weights()]
            finally:
                model.set_weights(kept)
    except Exception:  # an order that cannot be told is only slower, never wrong
        return None
    if any(len(values) != 1 for values in got):
        return None
    if any(not 1 <= values[0] <= len(names) for values in got):
        return None
    order = [names[int(values[0]) - 1] for values in got]
    return order if len(set(order)) == len(order) else None


def _layer_classes(path: Path) -> tuple[str, ...] | None:
    """The layer classes a saved `.keras` file declares (module and class of every layer, in
    order), or None where its config cannot be read. A file whose classes differ from its
    template's (a Lambda layer, say) is not given only weights: it is loaded on its own, in
    Keras' safe mode, which refuses what it must."""
    import zipfile

    def walk(node: Any) -> list[str]:
        found: list[str] = []
        if isinstance(node, dict):
            if "class_name" in node and "config" in node:
                found.append(f"{node.get('module')}.{node['class_name']}")
            for value in node.values():
                found += walk(value)
        elif isinstance(node, list):
            for value in node:
                found += walk(value)
        return found

    try:
        with zipfile.ZipFile(path) as archive:
            return tuple(walk(json.loads(archive.read("config.json"))))
    except (OSError, KeyError, ValueError, zipfile.BadZipFile):
        return None


_TEMPLATES: dict[str, _Template] = {}
_TEMPLATES_LOCK = threading.Lock()


def architecture_key(meta: Mapping[str, Any]) -> str:
    """What fixes a network's architecture: its cell and model settings, timeframe and input
    channels (not its scalers, training budget or weights)."""
    ids = meta.get("id_vector")
    relevant = {
        "format": meta.get("format"),
        "cell": meta.get("cell"),
        "model": meta.get("model"),
        "timeframe": meta.get("timeframe"),
        "channels": meta.get("channels"),
        "ids": None if ids is None else len(ids),
    }
    return json.dumps(relevant, sort_keys=True)


class SharedGraphForecaster(NetworkForecaster):
    """A loaded network whose weights are set into its architecture's template for each call."""

    template: _Template
    weights: list[np.ndarray]

    def _call(self, inputs: dict[str, np.ndarray], chunk: int = 4096) -> np.ndarray:
        with self.template.lock:
            self.template.model.set_weights(self.weights)
            return super()._call(inputs, chunk)


def load_shared(path: Path, cells: Mapping[str, Cell] | None = None) -> NetworkForecaster:
    """Load a saved single-series network for forecasting, through its architecture's template
    (see the module docstring). Safe mode: the template is loaded like any model; the others'
    files give only weights."""
    path = Path(path)
    meta = read_bundle_meta(path)
    check_format(meta, path)
    if meta.get("global"):
        raise ModelError(f"model {str(path)!r} is a global model, not a single-series one")
    key = architecture_key(meta)
    layers = _layer_classes(path)
    with _TEMPLATES_LOCK:
        template = _TEMPLATES.get(key)
    if template is not None and (layers is None or layers != template.layers):
        return NetworkForecaster.load(path, cells)  # not what its metadata says: on its own
    if template is None:
        keras_model, meta = load_bundle(path)
        template = _Template(keras_model, layers or (), path)
        with _TEMPLATES_LOCK:
            template = _TEMPLATES.setdefault(key, template)
        if template.model is keras_model:  # this file is the template: its weights as they are
            weights = [np.array(w) for w in keras_model.get_weights()]
        else:
            weights = _read_weights(template, path)
    else:
        weights = _read_weights(template, path)
    forecaster = cast(
        SharedGraphForecaster, SharedGraphForecaster.restore(meta, template.model, cells, path)
    )
    forecaster.template = template
    forecaster.weights = weights
    return forecaster


def _read_weights(template: _Template, path: Path) -> list[np.ndarray]:
    """`path`'s weights in the template's order: straight from its weights file where the
    template's order is known and the file has those datasets with the template's
    shapes, through Keras' `load_weights` otherwise (which names what it refuses)."""
    if template.order is not None:
        try:
            datasets = _datasets(path, template.order)
        except Exception:  # unreadable here, or other datasets: Keras' load below says why
            datasets = {}
        if datasets:
            weights = [
                np.asarray(datasets[name], dtype=dtype)
                for name, dtype in zip(template.order, template.dtypes, strict=True)
            ]
            if [w.shape for w in weights] == template.shapes:
                return weights
    with template.lock:
        try:
            template.model.load_weights(path)
        except Exception as exc:
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ModelError(
                f"model file {str(path)!r} could not be loaded (weights): {reason}"
            ) from None
        return [np.array(w) for w in template.model.get_weights()]


def clear_templates() -> None:
    with _TEMPLATES_LOCK:
        _TEMPLATES.clear()
