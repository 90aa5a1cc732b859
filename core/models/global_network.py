"""A global model: one network per cell trained on every series of a universe at once.

Each series keeps its own scalers, fitted on its own training part, so series at different
price levels share one network; an optional one-hot series id (appended after scaling) lets the
network tell them apart. A universe of many symbols then costs one training per cell instead of
one per (series, cell). Each series forecasts through its *member*, a `NetworkForecaster` that
shares the Keras model.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from candlecast.core.config import CellConfig, ModelConfig, TrainingConfig
from candlecast.core.errors import ModelError
from candlecast.core.models.bundle import load_bundle, save_bundle
from candlecast.core.models.cell import Cell
from candlecast.core.models.network import FORMAT_VERSION, NetworkForecaster, check_format
from candlecast.core.models.training import (
    TrainingReport,
    TrainingSet,
    seed_everything,
    training_turn,
)
from candlecast.core.storage.location import Location


class GlobalNetwork:
    def __init__(
        self,
        cell: Cell | None,
        cells: Mapping[str, Cell],
        cell_config: CellConfig,
        model: ModelConfig,
        training: TrainingConfig,
        timeframe: str,
        series: Sequence[str],
        *,
        series_id: bool = True,
    ) -> None:
        if not series:
            raise ModelError("a global model needs at least one series")
        self.series = list(series)
        self.training = training
        self.members: dict[str, NetworkForecaster] = {}
        for i, name in enumerate(self.series):
            member = NetworkForecaster(cell, cells, cell_config, model, training, timeframe)
            if series_id:
                member.id_vector = np.eye(len(self.series))[i]
            self.members[name] = member
        self.report: TrainingReport | None = None

    @property
    def keras_model(self) -> Any:
        return next(iter(self.members.values())).keras_model

    def member(self, series: str) -> NetworkForecaster:
        try:
            return self.members[series]
        except KeyError:
            raise ModelError(
                f"series {series!r} is not part of this global model ({', '.join(self.series)})"
            ) from None

    def fit(self, parts: Mapping[str, tuple[pd.DataFrame, pd.Series]]) -> TrainingReport:
        """Train on every series' part at once; each member's scalers come from its own part."""
        missing = [s for s in self.series if s not in parts]
        if missing:
            raise ModelError(f"global model: no training data for {', '.join(missing)}")
        with training_turn():
            seed_everything(self.training.seed)
            sets = [self.members[s].training_set(*parts[s], fit_scalers=True) for s in self.series]
            data = TrainingSet.concatenate(sets)
            lead = self.members[self.series[0]]
            lead.build(data.inputs["history"].shape[2])
            self.report = lead.train(data)
        for member in self.members.values():
            member.keras_model = lead.keras_model
            member.report = self.report
        return self.report

    def save(self, path: Path | Location) -> Path | Location:
        if self.keras_model is None:
            raise ModelError("global model: nothing to save (not trained)")
        meta = {
            "format": FORMAT_VERSION,
            "global": True,
            "series": self.series,
            "members": {s: m.preprocessing() for s, m in self.members.items()},
        }
        return save_bundle(path, self.keras_model, meta)

    @classmethod
    def load(cls, path: Path, cells: Mapping[str, Cell] | None = None) -> GlobalNetwork:
        keras_model, meta = load_bundle(path)
        check_format(meta, path)
        if not meta.get("global"):
            raise ModelError(f"model {str(path)!r} is a single-series model, not a global one")
        network = cls.__new__(cls)
        network.series = list(meta["series"])
        network.members = {
            s: NetworkForecaster.restore(meta["members"][s], keras_model, cells, path)
            for s in network.series
        }
        first = network.members[network.series[0]]
        network.training = first.training
        network.report = None
        return network
