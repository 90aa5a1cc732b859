"""The `gru` cell: Gated recurrent unit (keras GRU): update and reset gates, fewer weights than LSTM."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from candlecast.core.models.cell import Cell, CellRequest
from candlecast.plugins import hookimpl
from candlecast.plugins.cells.keras_rnn import rnn_layer


class GRUCell:
    name = "gru"
    description = (
        "Gated recurrent unit (keras GRU): update and reset gates, fewer weights than LSTM"
    )

    def build(self, request: CellRequest, cells: Mapping[str, Cell]) -> Any:
        import keras

        return rnn_layer(keras.layers.GRU, self.name, request, extra=("reset_after",))


@hookimpl
def register_cells(register) -> None:
    register(GRUCell())
