"""Saving a contract model and explaining why Keras' safe mode refuses to load one: the layers
that are Lambda layers or custom classes not registered with Keras."""

from __future__ import annotations

import json
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from candlecast.core.models.network import NetworkForecaster
from candlecast.plugins.testing.errors import CellContractError

REGISTER_HINT = (
    "register the layer class with keras.saving.register_keras_serializable(package=...) at "
    "import of the plugin module and give it a get_config() that returns every __init__ "
    "argument; Lambda layers never load in safe mode"
)


def save_model(network: NetworkForecaster, where: str, path: Path) -> Path:
    try:
        return network.save(path)
    except Exception as exc:
        raise CellContractError(
            f"{where}: the model could not be saved: {type(exc).__name__}: {first_line(exc)}; "
            f"{REGISTER_HINT}"
        ) from exc


def why_unloadable(path: Path) -> str | None:
    """Name the layers in a saved model that safe mode refuses, from its config.json."""
    import keras

    try:
        with zipfile.ZipFile(path) as archive:
            config = json.loads(archive.read("config.json"))
    except (OSError, KeyError, ValueError, zipfile.BadZipFile):
        return None
    problems: list[str] = []
    for node in _serialised_objects(config):
        class_name = node["class_name"]
        module = node.get("module") or ""
        inner = node.get("config")
        layer = inner.get("name") if isinstance(inner, dict) else None
        label = f"layer {layer!r} ({class_name})" if layer else f"{class_name}"
        if class_name == "Lambda" and module.startswith("keras"):
            problems.append(f"{label} is a Lambda layer, which safe mode refuses")
        elif not module.startswith("keras"):
            registered = node.get("registered_name") or class_name
            if keras.saving.get_registered_object(registered) is None:
                problems.append(
                    f"{label} is a custom class that is not registered with Keras "
                    f"(no registered object named {registered!r})"
                )
    return "; ".join(dict.fromkeys(problems)) or None


def _serialised_objects(node: Any) -> Iterator[dict[str, Any]]:
    """Every `{"class_name": ..., "config": ...}` object in a Keras config, depth first."""
    if isinstance(node, dict):
        if isinstance(node.get("class_name"), str) and "config" in node:
            yield node
        for value in node.values():
            yield from _serialised_objects(value)
    elif isinstance(node, list):
        for value in node:
            yield from _serialised_objects(value)


def first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
