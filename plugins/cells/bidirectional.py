"""The `bidirectional` cell: wraps any other registered cell (`lstm` by default) and reads
each window forwards and backwards (keras Bidirectional).

params: inner = "lstm" (any registered cell but bidirectional), merge_mode = "concat" | "sum" |
"mul" | "ave"; every other parameter is passed to the inner cell. Only the input window is read
both ways, so no future candle leaks into a forecast.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from candlecast.core.errors import PluginError
from candlecast.core.models.cell import Cell, CellRequest
from candlecast.plugins import hookimpl

MERGE_MODES = ("concat", "sum", "mul", "ave")


class BidirectionalCell:
    name = "bidirectional"
    description = "Wraps another cell (lstm by default) and reads the window both ways"

    def build(self, request: CellRequest, cells: Mapping[str, Cell]) -> Any:
        import keras

        params = dict(request.params)
        inner_name = params.pop("inner", "lstm")
        merge_mode = params.pop("merge_mode", "concat")
        if merge_mode not in MERGE_MODES:
            raise PluginError(
                f"bidirectional merge_mode {merge_mode!r} is unknown; allowed: {', '.join(MERGE_MODES)}"
            )
        if inner_name == self.name or inner_name not in cells:
            allowed = sorted(n for n in cells if n != self.name)
            raise PluginError(
                f"bidirectional inner cell {inner_name!r} is not allowed; use one of: {', '.join(allowed)}"
            )
        inner = cells[inner_name].build(
            CellRequest(
                units=request.units,
                return_sequences=request.return_sequences,
                activation=request.activation,
                dropout=request.dropout,
                params=params,
                name=f"{request.name}_{inner_name}" if request.name else None,
            ),
            cells,
        )
        return keras.layers.Bidirectional(inner, merge_mode=merge_mode, name=request.name)


@hookimpl
def register_cells(register) -> None:
    register(BidirectionalCell())
