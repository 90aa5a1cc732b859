"""The `simple` cell: Elman recurrent layer (keras SimpleRNN): fast, short memory."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from candlecast.core.models.cell import Cell, CellRequest
from candlecast.plugins import hookimpl
from candlecast.plugins.cells.keras_rnn import rnn_layer


class SimpleCell:
    name = "simple"
    description = "Elman recurrent layer (keras SimpleRNN): fast, short memory"

    def build(self, request: CellRequest, cells: Mapping[str, Cell]) -> Any:
        import keras

        return rnn_layer(keras.layers.SimpleRNN, self.name, request, extra=())


@hookimpl
def register_cells(register) -> None:
    register(SimpleCell())
