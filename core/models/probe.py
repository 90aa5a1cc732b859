"""A cell's network built at the configured sizes and trained on nothing: what `candlecast run
--check` does for every configured cell, so that a cell plugin that cannot build its layer (a
wrong `build` signature, a parameter it refuses, a shape it gets wrong) fails before a
scheduled run does."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from candlecast.core.config import CellConfig, ModelConfig, TrainingConfig
from candlecast.core.errors import CandlecastError, ModelError
from candlecast.core.market.timeframes import timeframe_offset
from candlecast.core.models.cell import Cell
from candlecast.core.models.features import input_channels
from candlecast.core.models.network import NetworkForecaster
from candlecast.core.models.targets import target_series


def input_channel_count(model: ModelConfig, timeframe: str) -> int:
    """How many input channels the networks see per step (the target's changes, calendar,
    volume, ...), from a few placeholder candles: the count depends on the features only."""
    index = pd.date_range(
        "2024-01-01", periods=4, freq=timeframe_offset(timeframe), tz="UTC", name="timestamp"
    )
    ones = np.ones(len(index))
    frame = pd.DataFrame(
        {"open": ones, "high": ones, "low": ones, "close": ones, "volume": ones}, index=index
    ).assign(synthetic=False)
    network = NetworkForecaster(
        None, {}, CellConfig(name="probe"), model, TrainingConfig(), timeframe
    )
    y = target_series(frame, model.target)
    channels, _ = input_channels(frame, y, network.transform, network.features, timeframe)
    return int(channels.shape[1])


def probe_cell(
    cell: Cell,
    cells: Mapping[str, Cell],
    cell_config: CellConfig,
    model: ModelConfig,
    timeframe: str,
) -> int:
    """Build the network `model` asks for around `cell` (head, window, horizon, features, the
    cell's units, layers, dropout, activation and params), with no data and no training;
    returns its weight count. Whatever stops the build is a CandlecastError naming the cell."""
    network = NetworkForecaster(cell, cells, cell_config, model, TrainingConfig(), timeframe)
    try:
        network.build(input_channel_count(model, timeframe))
    except CandlecastError:
        raise
    except Exception as exc:
        raise ModelError(
            f"cell {cell_config.id!r} failed to build its network: {type(exc).__name__}: {exc}"
        ) from exc
    return int(network.keras_model.count_params())


def probe_cells(
    cells: Mapping[str, Any], model: ModelConfig, timeframe: str
) -> tuple[dict[str, int], dict[str, str]]:
    """`probe_cell` for every cell of `model.cells`: weight counts of those that build, and
    why each other one does not (by cell id). The networks of every target have the same
    shape: the first target's are built."""
    model = model.for_target(model.targets[0])
    built: dict[str, int] = {}
    failed: dict[str, str] = {}
    for cell_config in model.cells:
        try:
            built[cell_config.id] = probe_cell(
                cells[cell_config.name], cells, cell_config, model, timeframe
            )
        except CandlecastError as exc:
            failed[cell_config.id] = str(exc)
    return built, failed
