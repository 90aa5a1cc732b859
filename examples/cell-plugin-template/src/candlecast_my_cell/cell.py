"""The `my_cell` cell: `depth` GRU layers, each followed by layer normalisation.

`build` returns a new `StackedGRU` layer (layers.py) on every call. That class is defined and
registered with Keras in layers.py, which this module imports: candlecast imports the plugin
(the entry point's module, `__init__.py`, which imports this one) before it loads a saved
model, so the class is registered by then. Never define or register a layer class inside
`build()`: a forecast-only run loads its model without calling `build()`, safe mode would
refuse it, and the cell would retrain on every run.

A cell made of standard Keras layers only (`keras.layers.LSTM(...)`, a `keras.Sequential`)
needs nothing registered; a cell that wraps another registered cell uses `cells[name].build`.

Parameters, from the `params` table of `[[model.cells]]`:
  depth               GRU layers in the stack (1-4, default 2)
  recurrent_dropout   dropout on the recurrent state (0 <= x < 1, default 0)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from candlecast.core.errors import PluginError
from candlecast.core.models.cell import Cell, CellRequest
from candlecast_my_cell.layers import StackedGRU  # registers the layer class at import

PARAMS = ("depth", "recurrent_dropout")
MAX_DEPTH = 4


class MyCell:
    """What candlecast needs from a cell: `name`, `description` and `build`."""

    name = "my_cell"  # what users write in [[model.cells]] name = "my_cell"
    description = "Stacked GRU layers, each followed by layer normalisation (template)"

    def build(self, request: CellRequest, cells: Mapping[str, Cell]) -> Any:
        """One Keras layer for `request` (units, return_sequences, activation, dropout, params,
        name). `cells` holds every registered cell, for a cell that wraps another one.

        Called once per layer candlecast stacks: return a new layer every time, built with
        `request.units` (the contract kit asks for two unit counts and checks the output).
        """
        depth, recurrent_dropout = _params(request.params)
        return StackedGRU(
            request.units,
            depth=depth,
            return_sequences=request.return_sequences,
            activation=request.activation,
            dropout=request.dropout,
            recurrent_dropout=recurrent_dropout,
            name=request.name,
        )


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
