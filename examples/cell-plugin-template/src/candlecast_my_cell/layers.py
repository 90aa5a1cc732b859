"""The Keras layer the `my_cell` cell builds: `depth` GRU layers, each followed by layer
normalisation, as one serialisable layer.

    [batch, time, features] -> GRU -> LayerNorm -> ... -> GRU -> LayerNorm
                            -> [batch, time, units] (return_sequences) or [batch, units]

The class is registered with Keras here, when the plugin module is imported, which is what
candlecast does first in every process (through the entry point). A forecast-only run loads its
saved model *before* it builds anything: a class registered inside `build()` would not be
registered yet, safe mode would refuse the model, and the cell would retrain on every run. The
contract kit checks this by loading the saved models in a fresh process.

Every `__init__` argument comes back from `get_config()`, and the sub-layers are attributes the
layer tracks (their weights are saved with it); never use a `Lambda` layer (safe mode refuses it).
"""

from __future__ import annotations

from typing import Any

import keras

PACKAGE = "candlecast_my_cell"  # rename with the package: Keras registers the class under it


@keras.saving.register_keras_serializable(package=PACKAGE)
class StackedGRU(keras.layers.Layer):
    """`depth` GRU layers, each followed by layer normalisation."""

    def __init__(
        self,
        units: int,
        depth: int = 2,
        return_sequences: bool = False,
        activation: str = "tanh",
        dropout: float = 0.0,
        recurrent_dropout: float = 0.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.units = units
        self.depth = depth
        self.return_sequences = return_sequences
        self.activation = activation
        self.dropout = dropout
        self.recurrent_dropout = recurrent_dropout
        self.grus = [
            keras.layers.GRU(
                units,
                activation=activation,
                dropout=dropout,
                recurrent_dropout=recurrent_dropout,
                # every GRU but the last reads the whole sequence of the one before it
                return_sequences=return_sequences or i < depth - 1,
                name=f"gru{i}",
            )
            for i in range(depth)
        ]
        self.norms = [keras.layers.LayerNormalization(name=f"norm{i}") for i in range(depth)]

    def build(self, input_shape: tuple[int | None, ...]) -> None:
        shape = tuple(input_shape)
        for gru, norm in zip(self.grus, self.norms, strict=True):
            gru.build(shape)
            shape = tuple(gru.compute_output_shape(shape))
            norm.build(shape)

    def call(self, inputs: Any, training: bool | None = None) -> Any:
        x = inputs
        for gru, norm in zip(self.grus, self.norms, strict=True):
            x = norm(gru(x, training=training))
        return x

    def compute_output_shape(self, input_shape: tuple[int | None, ...]) -> tuple[int | None, ...]:
        if self.return_sequences:
            return (*input_shape[:-1], self.units)
        return (input_shape[0], self.units)

    def get_config(self) -> dict[str, Any]:
        return super().get_config() | {
            "units": self.units,
            "depth": self.depth,
            "return_sequences": self.return_sequences,
            "activation": self.activation,
            "dropout": self.dropout,
            "recurrent_dropout": self.recurrent_dropout,
        }
