"""A trained network on disk: `<name>.keras` (Keras' own format) plus `<name>.json`
(preprocessing: transform, scalers, architecture). Written atomically; loaded in safe mode only.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import Any

from candlecast.core.errors import ModelError
from candlecast.core.storage import faultpoints
from candlecast.core.storage.atomic import sweep_stale_temps, temp_sibling


def save_bundle(path: Path, model: Any, preprocessing: dict[str, Any]) -> Path:
    """Save to `path` (suffix .keras) and its .json sidecar; returns the .keras path.

    Both are written under temporary names first (what a killed process leaves of them is
    swept by the next save into the folder); a failure such as a full disk is a ModelError."""
    path = Path(path).with_suffix(".keras")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ModelError(f"could not save model {str(path)!r}: {exc.strerror or exc}") from exc
    sweep_stale_temps(path.parent)
    tmp_model = temp_sibling(path, suffix=".keras")  # Keras wants the .keras suffix
    tmp_meta = temp_sibling(path.with_suffix(".json"), suffix=".json")
    try:
        model.save(tmp_model)
        tmp_meta.write_text(json.dumps(preprocessing, indent=1, sort_keys=True), encoding="utf-8")
        faultpoints.reached("replace", path)
        os.replace(tmp_model, path)
        os.replace(tmp_meta, path.with_suffix(".json"))
    except OSError as exc:
        raise ModelError(f"could not save model {str(path)!r}: {exc.strerror or exc}") from exc
    finally:
        for tmp in (tmp_model, tmp_meta):
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
    return path


def load_bundle(path: Path) -> tuple[Any, dict[str, Any]]:
    """Load a bundle in Keras' safe mode; any failure is a ModelError that says why."""
    import keras

    path = Path(path)
    meta_path = path.with_suffix(".json")
    if not path.exists() or not meta_path.exists():
        missing = path if not path.exists() else meta_path
        raise ModelError(f"model file {str(missing)!r} is missing")
    try:
        preprocessing = json.loads(meta_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelError(f"model metadata {str(meta_path)!r} is unreadable: {exc}") from None
    try:
        model = keras.saving.load_model(path, safe_mode=True, compile=False)
    except Exception as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelError(
            f"model file {str(path)!r} could not be loaded in safe mode: {reason}"
        ) from None
    return model, preprocessing
