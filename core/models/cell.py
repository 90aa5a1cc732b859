"""What a cell plugin provides: a Keras recurrent layer built from its parameters.

The core assembles the model around the layer (stacking, heads); the plugin only decides
which recurrent layer it is. `bidirectional` shows how a cell can wrap another registered one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable


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
