"""The `my_cell` cell: `depth` GRU layers, each followed by layer normalisation.

`[batch, time, features]` -> GRU -> LayerNorm -> ... -> GRU -> LayerNorm ->
`[batch, time, units]` (request.return_sequences) or `[batch, units]`.

Built from standard Keras layers only (a `keras.Sequential`), so a saved model loads in Keras'
safe mode with nothing to register. A cell that needs its own maths writes a `keras.layers.Layer`
subclass decorated with `@keras.saving.register_keras_serializable(package="candlecast_my_cell")`
and a `get_config()` returning every `__init__` argument (see examples/candlecast-conv-gru).

Parameters, from the `params` table of `[[model.cells]]`:
  depth               GRU layers in the stack (1-4, default 2)
  recurrent_dropout   dropout on the recurrent state (0 <= x < 1, default 0)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from candlecast.core.errors import PluginError
from candlecast.core.models.cell import Cell, CellRequest

PARAMS = ("depth", "recurrent_dropout")
MAX_DEPTH = 4


class MyCell:
    """What candlecast needs from a cell: `name`, `description` and `build`."""

    name = "my_cell"  # what users write in [[model.cells]] name = "my_cell"
    description = "Stacked GRU layers, each followed by layer normalisation (template)"

    def build(self, request: CellRequest, cells: Mapping[str, Cell]) -> Any:
        """One Keras layer for `request` (units, return_sequences, activation, dropout, params,
        name). `cells` holds every registered cell, for a cell that wraps another one.

        Called once per layer candlecast stacks: return a new layer every time.
        """
        import keras  # imported here: listing plugins stays fast

        depth, recurrent_dropout = _params(request.params)
        prefix = request.name or self.name
        layers: list[Any] = []
        for i in range(depth):
            last = i == depth - 1
            layers.append(
                keras.layers.GRU(
                    request.units,
                    activation=request.activation,
                    dropout=request.dropout,
                    recurrent_dropout=recurrent_dropout,
                    # every layer but the last reads the whole sequence of the one before it
                    return_sequences=request.return_sequences or not last,
                    name=f"{prefix}_gru{i}",
                )
            )
            layers.append(keras.layers.LayerNormalization(name=f"{prefix}_norm{i}"))
        return keras.Sequential(layers, name=request.name)


def _params(params: Mapping[str, Any]) -> tuple[int, float]:
    """`depth` and `recurrent_dropout`, checked; a PluginError says what is wrong."""
    unknown = sorted(set(params) - set(PARAMS))
    if unknown:
        raise PluginError(
            f"cell 'my_cell' does not take parameter(s) {', '.join(unknown)}; "
            f"allowed: {', '.join(PARAMS)}"
        )
    depth = params.get("depth", 2)
    if not isinstance(depth, int) or isinstance(depth, bool) or not 1 <= depth <= MAX_DEPTH:
        raise PluginError(
            f"cell 'my_cell' parameter depth must be an integer from 1 to {MAX_DEPTH}, got {depth!r}"
        )
    dropout = params.get("recurrent_dropout", 0.0)
    if not isinstance(dropout, int | float) or isinstance(dropout, bool) or not 0 <= dropout < 1:
        raise PluginError(
            f"cell 'my_cell' parameter recurrent_dropout must be a number in [0, 1), got {dropout!r}"
        )
    return depth, float(dropout)
