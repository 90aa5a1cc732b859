"""The cell contract: what every cell plugin must do, checked the way candlecast uses a cell.

For every head, `check_cell`:
  1. builds the layer for each `return_sequences` value the head uses and calls it on
     `[batch, window, channels]`: the output must be `[batch, window, units]` or `[batch, units]`
     (the last axis may be a multiple of `units`, as a bidirectional concat is);
  2. assembles the network around the cell (`NetworkForecaster`, the product's own path) and
     trains it for a few steps on a small generated series;
  3. forecasts a few origins: shape `[origins, horizon]`, finite values, the same on a second
     call (no randomness at inference);
  4. saves the model and reloads it in Keras' safe mode: the reloaded model forecasts the same;
  5. trains again from scratch with the same seed: the same forecast;
then, for all heads at once:
  6. loads the saved models in a fresh process, as a forecast-only run does (plugins through
     their entry points, `build()` never called): they forecast the same (`fresh.py`).
Before any of it, `build` must take `(request, cells)` and its layer must follow
`request.units` (probed with two unit counts). Anything broken raises `CellContractError`
naming the cell, the head and what was wrong.
"""

from __future__ import annotations

import contextlib
import dataclasses
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pydantic import ValidationError

from candlecast.core.config import CellConfig, ModelConfig, TrainingConfig
from candlecast.core.errors import ConfigError, PluginError
from candlecast.core.models.builder import HEADS
from candlecast.core.models.cell import Cell, check_build_signature
from candlecast.core.models.network import NetworkForecaster
from candlecast.core.models.targets import target_series
from candlecast.plugins.testing.errors import CellContractError
from candlecast.plugins.testing.fresh import load_in_fresh_process
from candlecast.plugins.testing.layer import check_layer
from candlecast.plugins.testing.report import CellReport, HeadReport
from candlecast.plugins.testing.saving import REGISTER_HINT, first_line, save_model, why_unloadable
from candlecast.plugins.testing.series import contract_candles

# The return_sequences values each head asks its cell for (encoder and decoder).
HEAD_SEQUENCES: dict[str, tuple[bool, ...]] = {
    "seq2vec": (False,),
    "seq2seq": (True,),
    "seq2vec2seq": (False, True),
}


@dataclass(frozen=True)
class ContractSettings:
    """The sizes the kit works at: small enough for a unit test (seconds per head)."""

    window: int = 12
    horizon: int = 4
    units: int = 4
    channels: int = 3  # input channels of the shape probe
    epochs: int = 2
    batch_size: int = 32
    candles: int = 160
    train: int = 140  # candles trained on; the rest are forecast from
    origins: tuple[int, ...] = (139, 149, 159)
    tolerance: float = 1e-6  # relative, for the reloads and the rerun
    fresh_process: bool = True  # check 6: load the saved models in a fresh process
    fresh_timeout: float = 600.0  # seconds that process may take (it imports TensorFlow)


def check_cell(
    cell: Any,
    *,
    cells: Mapping[str, Cell] | None = None,
    heads: Sequence[str] = HEADS,
    tmp_path: Path | None = None,
    params: Mapping[str, Any] | None = None,
    seed: int = 7,
    settings: ContractSettings | None = None,
) -> CellReport:
    """Check `cell` against the cell contract with every head in `heads`.

    cells     the cells `cell.build` may wrap (default: candlecast's built-in cells); `cell`
              itself is added under its name
    tmp_path  where the models are saved (default: a temporary directory, removed after)
    params    the cell's `params` table, as a user would write it in `[[model.cells]]`
    seed      the training seed (twice the same seed must give the same forecast)

    Returns a `CellReport` when every check passes; raises `CellContractError` (a PluginError)
    naming the cell, the head and what is broken otherwise.
    """
    settings = settings or ContractSettings()
    heads = _checked_heads(heads)
    name, description = _identity(cell)
    available = dict(_builtin_cells() if cells is None else cells)
    available[name] = cell
    frame = contract_candles(settings.candles)
    reports: dict[str, HeadReport] = {}
    saved: dict[str, tuple[Path, np.ndarray]] = {}
    with _workdir(tmp_path) as workdir:
        for head in heads:
            reports[head], saved[head] = _check_head(
                cell, available, head, frame, workdir, dict(params or {}), seed, settings
            )
        via = "not checked (ContractSettings.fresh_process is off)"
        if settings.fresh_process:
            fresh = load_in_fresh_process(
                cell,
                saved,
                candles=settings.candles,
                origins=list(settings.origins),
                tolerance=settings.tolerance,
                workdir=workdir,
                timeout=settings.fresh_timeout,
            )
            via = fresh.via
            reports = {
                head: dataclasses.replace(report, fresh_diff=fresh.diffs.get(head))
                for head, report in reports.items()
            }
    return CellReport(cell=name, description=description, heads=reports, fresh_load=via)


# ---- the checks ---------------------------------------------------------------------------------
def _checked_heads(heads: Sequence[str]) -> tuple[str, ...]:
    if isinstance(heads, str):
        heads = (heads,)
    unknown = [h for h in heads if h not in HEADS]
    if unknown or not heads:
        raise ConfigError(
            f"heads {list(heads)!r} must name at least one head, each one of: {', '.join(HEADS)}"
        )
    return tuple(dict.fromkeys(heads))


def _identity(cell: Any) -> tuple[str, str]:
    """The cell's name and description, or a CellContractError saying which is missing."""
    name = getattr(cell, "name", None)
    shown = f"cell {name!r}" if isinstance(name, str) else f"cell {type(cell).__name__}"
    if not isinstance(name, str) or not name:
        raise CellContractError(
            f"{shown}: `name` is {'missing' if name is None else repr(name)}; a cell needs a "
            "`name` string (lowercase letters, digits, '_' or '-', starting with a letter), "
            "the name users write in [[model.cells]]"
        )
    try:
        CellConfig(name=name)
    except ValidationError as exc:
        reason = exc.errors()[0]["msg"].removeprefix("Value error, ")
        raise CellContractError(
            f"{shown}: `name` cannot be used in [[model.cells]]: {reason}"
        ) from None
    description = getattr(cell, "description", None)
    if not isinstance(description, str) or not description.strip():
        raise CellContractError(
            f"{shown}: `description` is {'missing' if description is None else repr(description)};"
            " a cell needs a one-line `description` string (`candlecast plugins` shows it)"
        )
    if not callable(getattr(cell, "build", None)):
        raise CellContractError(
            f"{shown}: has no `build(request, cells)` method returning a Keras layer"
        )
    try:
        check_build_signature(cell)
    except PluginError as exc:
        raise CellContractError(str(exc)) from None
    return name, description


def _check_head(
    cell: Any,
    cells: Mapping[str, Cell],
    head: str,
    frame: pd.DataFrame,
    workdir: Path,
    params: dict[str, Any],
    seed: int,
    settings: ContractSettings,
) -> tuple[HeadReport, tuple[Path, np.ndarray]]:
    """One head's checks 1-5; returns its report, and the saved model with its forecast."""
    started = time.perf_counter()
    where = f"cell {cell.name!r} with head {head}"
    shapes = {
        flag: check_layer(cell, cells, where, flag, params, settings)
        for flag in HEAD_SEQUENCES[head]
    }
    y = target_series(frame, "close")
    origins = list(settings.origins)
    network = _train(cell, cells, where, head, frame, y, params, seed, settings)
    forecast = _forecast(network, where, frame, y, origins, settings)
    repeat_diff = _relative_diff(_forecast(network, where, frame, y, origins, settings), forecast)
    if repeat_diff > settings.tolerance:
        raise CellContractError(
            f"{where}: the same trained model forecasts differently on two calls (largest "
            f"relative difference {repeat_diff:.2e}): the layer is random at inference; apply "
            "noise or dropout only when called with training=True"
        )

    path = save_model(network, where, workdir / f"{cell.name}_{head}")
    try:
        reloaded = NetworkForecaster.load(path, cells)
    except Exception as exc:
        raise CellContractError(
            f"{where}: the saved model could not be reloaded in safe mode: "
            f"{why_unloadable(path) or first_line(exc)}; {REGISTER_HINT}"
        ) from exc
    again = _forecast(reloaded, f"{where} (reloaded)", frame, y, origins, settings)
    reload_diff = _relative_diff(again, forecast)
    if reload_diff > settings.tolerance:
        raise CellContractError(
            f"{where}: the model reloaded in safe mode forecasts differently (largest relative "
            f"difference {reload_diff:.2e} > {settings.tolerance:g}): some weights or settings "
            "are not saved; every sub-layer must be an attribute the layer tracks and "
            "get_config() must return every __init__ argument"
        )

    rerun = _train(cell, cells, where, head, frame, y, params, seed, settings)
    rerun_diff = _relative_diff(_forecast(rerun, where, frame, y, origins, settings), forecast)
    if rerun_diff > settings.tolerance:
        raise CellContractError(
            f"{where}: two trainings with seed {seed} forecast differently (largest relative "
            f"difference {rerun_diff:.2e} > {settings.tolerance:g}): the layer must draw every "
            "random number from Keras' seeded generators (keras.random with a SeedGenerator, "
            "keras initializers), never from an unseeded source"
        )
    report = network.report
    head_report = HeadReport(
        head=head,
        output_shapes=shapes,
        parameters=int(network.keras_model.count_params()),
        epochs=report.epochs if report else 0,
        train_loss=float(report.train_loss) if report else float("nan"),
        forecast_shape=(forecast.shape[0], forecast.shape[1]),
        reload_diff=reload_diff,
        rerun_diff=rerun_diff,
        seconds=time.perf_counter() - started,
    )
    return head_report, (path, forecast)


def _train(
    cell: Any,
    cells: Mapping[str, Cell],
    where: str,
    head: str,
    frame: pd.DataFrame,
    y: pd.Series,
    params: dict[str, Any],
    seed: int,
    settings: ContractSettings,
) -> NetworkForecaster:
    cell_config = CellConfig(name=cell.name, units=settings.units, params=params)
    model = ModelConfig(
        cells=[cell_config],
        head=head,
        window=settings.window,
        horizon=settings.horizon,
        targets=["close"],
    )
    training = TrainingConfig(
        epochs=settings.epochs, batch_size=settings.batch_size, patience=1, seed=seed
    )
    network = NetworkForecaster(cell, cells, cell_config, model, training, "1h")
    try:
        network.fit(frame.iloc[: settings.train], y.iloc[: settings.train])
    except Exception as exc:
        raise CellContractError(
            f"{where}: training failed: {type(exc).__name__}: {first_line(exc)}"
        ) from exc
    return network


def _forecast(
    network: NetworkForecaster,
    where: str,
    frame: pd.DataFrame,
    y: pd.Series,
    origins: list[int],
    settings: ContractSettings,
) -> np.ndarray:
    try:
        forecast = np.asarray(network.predict_at(frame, y, origins), dtype="float64")
    except Exception as exc:
        raise CellContractError(
            f"{where}: forecasting failed: {type(exc).__name__}: {first_line(exc)}"
        ) from exc
    expected = (len(origins), settings.horizon)
    if forecast.shape != expected:
        raise CellContractError(
            f"{where}: the forecast has shape {forecast.shape}; expected {expected} "
            "[origins, horizon]"
        )
    bad = int((~np.isfinite(forecast)).sum())
    if bad:
        raise CellContractError(
            f"{where}: the forecast has {bad} of {forecast.size} values NaN or infinite"
        )
    return forecast


# ---- helpers ------------------------------------------------------------------------------------
def _relative_diff(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(b), 1.0)))


def _builtin_cells() -> dict[str, Cell]:
    """candlecast's own cells, without loading any third-party plugin."""
    from candlecast.plugins.manager import BUILTIN_PLUGINS, PluginHost

    modules = tuple(m for m in BUILTIN_PLUGINS if m.startswith("candlecast.plugins.cells."))
    return PluginHost(builtins=modules, entry_points=False).get("cells")


@contextlib.contextmanager
def _workdir(path: Path | None) -> Iterator[Path]:
    """`path` as is, or a temporary directory removed afterwards."""
    if path is not None:
        Path(path).mkdir(parents=True, exist_ok=True)
        yield Path(path)
        return
    with tempfile.TemporaryDirectory(prefix="candlecast-contract-") as tmp:
        yield Path(tmp)
