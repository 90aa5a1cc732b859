"""Shared by the built-in cells that are one Keras recurrent layer class each."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from candlecast.core.errors import PluginError
from candlecast.core.models.cell import CellRequest

# Parameters a user may set in a cell's `params` table, for every Keras RNN layer.
RNN_PARAMS = (
    "recurrent_dropout",
    "unroll",
    "use_bias",
    "go_backwards",
    "kernel_initializer",
    "recurrent_initializer",
)


def check_params(cell: str, params: Mapping[str, Any], allowed: tuple[str, ...]) -> None:
    unknown = sorted(set(params) - set(allowed))
    if unknown:
        raise PluginError(
            f"cell {cell!r} does not take parameter(s) {', '.join(unknown)}; "
            f"allowed: {', '.join(allowed) or '(none)'}"
        )


def rnn_layer(
    layer_class: Any, cell: str, request: CellRequest, extra: tuple[str, ...] = ()
) -> Any:
    """Instantiate `layer_class` (keras.layers.LSTM, ...) from a request."""
    check_params(cell, request.params, RNN_PARAMS + extra)
    return layer_class(
        request.units,
        activation=request.activation,
        dropout=request.dropout,
        return_sequences=request.return_sequences,
        name=request.name,
        **dict(request.params),
    )
