"""A trained network on disk: `<name>.keras` (Keras' own format) plus `<name>.json`
(preprocessing: transform, scalers, architecture). Written atomically; loaded in safe mode only.

Keras reads and writes local files only: a bundle whose location is remote (an fsspec URL, see
`core/storage/location.py`) is saved into a local temporary folder and uploaded (the sidecar
first, so a `.keras` object never lacks its `.json`), and fetched into one to be loaded
(`fetched_bundle`), where the caller checks the checksum on the very bytes Keras then loads.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from candlecast.core.errors import ModelError, StorageError
from candlecast.core.storage import faultpoints
from candlecast.core.storage.atomic import sweep_stale_temps, temp_sibling
from candlecast.core.storage.location import Location


def save_bundle(
    path: Path | Location, model: Any, preprocessing: dict[str, Any]
) -> Path | Location:
    """Save to `path` (suffix .keras) and its .json sidecar; returns the .keras path (a
    `Location` when `path` is a remote one).

    Both are written under temporary names first (what a killed process leaves of them is
    swept by the next save into the folder); a failure such as a full disk is a ModelError."""
    if isinstance(path, Location):
        if path.is_local:
            return save_bundle(path.path, model, preprocessing)
        return _upload_bundle(path.with_suffix(".keras"), model, preprocessing)
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


def _upload_bundle(target: Location, model: Any, preprocessing: dict[str, Any]) -> Location:
    with tempfile.TemporaryDirectory(prefix="candlecast-save-") as folder:
        local = save_bundle(Path(folder) / target.name, model, preprocessing)
        assert isinstance(local, Path)
        try:
            target.with_suffix(".json").upload(local.with_suffix(".json"))
            target.upload(local)
        except StorageError as exc:
            raise ModelError(f"could not save model {str(target)!r}: {exc}") from exc
    return target


@contextlib.contextmanager
def fetched_bundle(location: Path | Location) -> Iterator[Path]:
    """A local path of the bundle's `.keras` file, its `.json` beside it: the files themselves
    when local, else copies in a temporary folder (removed afterwards). A missing file is a
    ModelError."""
    location = Location.of(location)
    if location.is_local:
        yield location.path
        return
    with tempfile.TemporaryDirectory(prefix="candlecast-load-") as folder:
        local = Path(folder) / location.name
        for remote, copy in (
            (location, local),
            (location.with_suffix(".json"), local.with_suffix(".json")),
        ):
            try:
                copy.write_bytes(remote.read_bytes())
            except FileNotFoundError:
                raise ModelError(f"model file {str(remote)!r} is missing") from None
            except StorageError as exc:
                raise ModelError(f"model file {str(remote)!r} is unreadable: {exc}") from None
        yield local


def read_bundle_meta(path: Path) -> dict[str, Any]:
    """The `.json` beside a bundle's `.keras` file; a missing or unreadable one is a
    ModelError that names it."""
    path = Path(path)
    meta_path = path.with_suffix(".json")
    if not path.exists() or not meta_path.exists():
        missing = path if not path.exists() else meta_path
        raise ModelError(f"model file {str(missing)!r} is missing")
    try:
        return json.loads(meta_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelError(f"model metadata {str(meta_path)!r} is unreadable: {exc}") from None


def load_bundle(path: Path) -> tuple[Any, dict[str, Any]]:
    """Load a bundle in Keras' safe mode; any failure is a ModelError that says why."""
    import keras

    from candlecast.core.models.training import construction_turn

    path = Path(path)
    preprocessing = read_bundle_meta(path)
    try:
        with construction_turn():
            model = keras.saving.load_model(path, safe_mode=True, compile=False)
    except Exception as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelError(
            f"model file {str(path)!r} could not be loaded in safe mode: {reason}"
        ) from None
    return model, preprocessing
