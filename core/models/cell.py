"""What a cell plugin provides: a Keras recurrent layer built from its parameters.

The core assembles the model around the layer (stacking, heads); the plugin only decides
which recurrent layer it is. `bidirectional` shows how a cell can wrap another registered one.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from candlecast.core.errors import PluginError


@dataclass(frozen=True)
class CellRequest:
    """Everything a cell needs to build one recurrent layer.

    units             size of the hidden state
    return_sequences  True: output `[batch, time, units]`; False: `[batch, units]`
    activation        the recurrent layer's activation ("tanh", ...)
    dropout           input dropout rate inside the layer
    params            cell-specific parameters from the config's `params` table
    name              a unique Keras layer name
    """

    units: int
    return_sequences: bool
    activation: str = "tanh"
    dropout: float = 0.0
    params: Mapping[str, Any] = field(default_factory=dict)
    name: str | None = None


@runtime_checkable
class Cell(Protocol):
    """A recurrent cell plugin. `build` must return a Keras layer that maps
    `[batch, time, features]` to `[batch, time, units]` (return_sequences) or `[batch, units]`,
    is serialisable with `get_config` and loads with Keras' safe mode."""

    name: str
    description: str

    def build(self, request: CellRequest, cells: Mapping[str, Cell]) -> Any:
        """Build the layer. `cells` is every registered cell, for cells that wrap others."""
        ...


def check_build_signature(cell: Any) -> None:
    """A PluginError in plain words when `cell.build` cannot be called as
    `build(request, cells)` (say `def build(self, request)`), rather than Python's
    "takes 2 positional arguments but 3 were given" from deep inside model assembly."""
    build = getattr(cell, "build", None)
    name = getattr(cell, "name", type(cell).__name__)
    if not callable(build):
        raise PluginError(f"cell {name!r} has no build(request, cells) method")
    try:
        signature = inspect.signature(build)
    except (TypeError, ValueError):  # a builtin or C callable: nothing to check
        return
    try:
        signature.bind(None, None)
    except TypeError:
        shown = f"build{signature}"
        if inspect.ismethod(build):  # the bound method's signature leaves `self` out
            shown = "build(self" + (", " if signature.parameters else "") + str(signature)[1:]
        if inspect.isclass(cell):
            hint = f"register an instance, register({cell.__name__}()), not the class"
        else:
            hint = (
                "define it as `def build(self, request, cells)`: `request` (a CellRequest: "
                "units, return_sequences, activation, dropout, params, name) and `cells` "
                "(every registered cell, for a cell that wraps another)"
            )
        raise PluginError(
            f"cell {name!r}: its {shown} cannot be called as build(request, cells); {hint}"
        ) from None
