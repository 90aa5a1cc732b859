"""candlecast cell plugin `conv_gru`: Conv1D (causal) -> GRU, as one serialisable Keras layer.

The layer class is registered with Keras at import, so a saved model loads in safe mode in any
process where candlecast has loaded its plugins.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import keras

from candlecast.core.errors import PluginError
from candlecast.core.models.cell import Cell, CellRequest
from candlecast.plugins import hookimpl

__version__ = "0.1.0"
PARAMS = ("filters", "kernel_size")


@keras.saving.register_keras_serializable(package="candlecast_conv_gru")
class ConvGRU(keras.layers.Layer):
    """`[batch, time, features]` -> causal Conv1D -> GRU -> `[batch, (time,) units]`."""

    def __init__(
        self,
        units: int,
        filters: int = 16,
        kernel_size: int = 3,
        return_sequences: bool = False,
        activation: str = "tanh",
        dropout: float = 0.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.units = units
        self.filters = filters
        self.kernel_size = kernel_size
        self.return_sequences = return_sequences
        self.activation = activation
        self.dropout = dropout
        self.conv = keras.layers.Conv1D(filters, kernel_size, padding="causal", activation="relu")
        self.gru = keras.layers.GRU(
            units, return_sequences=return_sequences, activation=activation, dropout=dropout
        )

    def build(self, input_shape: tuple[int | None, ...]) -> None:
        self.conv.build(input_shape)
        self.gru.build((*input_shape[:-1], self.filters))

    def call(self, inputs: Any, training: bool | None = None) -> Any:
        return self.gru(self.conv(inputs), training=training)

    def compute_output_shape(self, input_shape: tuple[int | None, ...]) -> tuple[int | None, ...]:
        if self.return_sequences:
            return (*input_shape[:-1], self.units)
        return (input_shape[0], self.units)

    def get_config(self) -> dict[str, Any]:
        return super().get_config() | {
            "units": self.units,
            "filters": self.filters,
            "kernel_size": self.kernel_size,
            "return_sequences": self.return_sequences,
            "activation": self.activation,
            "dropout": self.dropout,
        }


class ConvGRUCell:
    name = "conv_gru"
    description = "Causal Conv1D feeding a GRU (example plugin)"

    def build(self, request: CellRequest, cells: Mapping[str, Cell]) -> Any:
        unknown = sorted(set(request.params) - set(PARAMS))
        if unknown:
            raise PluginError(
                f"cell 'conv_gru' does not take {', '.join(unknown)}; allowed: {', '.join(PARAMS)}"
            )
        return ConvGRU(
            request.units,
            return_sequences=request.return_sequences,
            activation=request.activation,
            dropout=request.dropout,
            name=request.name,
            **dict(request.params),
        )


@hookimpl
def register_cells(register) -> None:
    register(ConvGRUCell())
