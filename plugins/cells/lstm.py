"""The `lstm` cell: Long short-term memory (keras LSTM): input, forget and output gates."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from candlecast.core.models.cell import Cell, CellRequest
from candlecast.plugins import hookimpl
from candlecast.plugins.cells.keras_rnn import rnn_layer


class LSTMCell:
    name = "lstm"
    description = "Long short-term memory (keras LSTM): input, forget and output gates"

    def build(self, request: CellRequest, cells: Mapping[str, Cell]) -> Any:
        import keras

        return rnn_layer(keras.layers.LSTM, self.name, request, extra=("unit_forget_bias",))


@hookimpl
def register_cells(register) -> None:
    register(LSTMCell())
