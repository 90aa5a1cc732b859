"""The contract kit's layer checks: `build` returns a new Keras layer on every call, whose
output on `[batch, window, channels]` is `[batch, window, units]` or `[batch, units]` (the last
axis may be a multiple of `units`, as a bidirectional concat is) and follows `request.units`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from candlecast.core.models.cell import Cell, CellRequest
from candlecast.plugins.testing.errors import CellContractError
from candlecast.plugins.testing.report import Shape
from candlecast.plugins.testing.saving import first_line

if TYPE_CHECKING:
    from candlecast.plugins.testing.contract import ContractSettings


def check_layer(
    cell: Any,
    cells: Mapping[str, Cell],
    where: str,
    return_sequences: bool,
    params: dict[str, Any],
    settings: ContractSettings,
) -> Shape:
    """Build the layer, call it on `[batch, window, channels]`, check the output shape."""
    import keras

    call = f"build(return_sequences={return_sequences})"
    layers = []
    for attempt in range(3):  # twice as asked (two objects?), once with one unit more
        request = CellRequest(
            units=settings.units + (attempt == 2),
            return_sequences=return_sequences,
            params=dict(params),
            name=f"contract_{'seq' if return_sequences else 'vec'}_{attempt}",
        )
        try:
            layers.append(cell.build(request, cells))
        except Exception as exc:
            raise CellContractError(
                f"{where}: {call} raised {type(exc).__name__}: {first_line(exc)}"
            ) from exc
    layer = layers[0]
    if not isinstance(layer, keras.layers.Layer):
        raise CellContractError(
            f"{where}: {call} returned {type(layer).__name__}; expected a keras.layers.Layer"
        )
    if layers[1] is layer:
        raise CellContractError(
            f"{where}: {call} returned the same layer object twice; build must create a new "
            "layer on every call (stacked layers and the decoder each need their own weights)"
        )
    window, units = settings.window, settings.units
    inputs = keras.Input((window, settings.channels))
    try:
        output = layer(inputs)
    except Exception as exc:
        raise CellContractError(
            f"{where}: the layer from {call} fails on an input of shape "
            f"(None, {window}, {settings.channels}): {type(exc).__name__}: {first_line(exc)}"
        ) from exc
    if isinstance(output, list | tuple):
        raise CellContractError(
            f"{where}: the layer from {call} returns {len(output)} tensors; expected one "
            "(do not set return_state)"
        )
    shape: Shape = tuple(output.shape)
    expected: Shape = (None, window, units) if return_sequences else (None, units)
    last = shape[-1] if shape else None
    if (
        len(shape) != len(expected)
        or shape[:-1] != expected[:-1]
        or not isinstance(last, int)
        or last <= 0
        or last % units
    ):
        hint = (
            "; honour request.return_sequences"
            if len(shape) != len(expected)
            else f"; the last axis must be units ({units}) or a multiple of it"
        )
        raise CellContractError(
            f"{where}: {call} returned shape {shape}; expected {expected}{hint}"
        )
    _check_units(layers[2], where, call, last, settings)
    return shape


def _check_units(layer: Any, where: str, call: str, last: int, settings: ContractSettings) -> None:
    """The layer built for one unit more must grow with it: a cell that builds a fixed size
    (which the first probe may take for a multiple of `units`) fails here."""
    import keras

    units, more = settings.units, settings.units + 1
    try:
        other = layer(keras.Input((settings.window, settings.channels)))
        other_last = tuple(other.shape)[-1]
    except Exception as exc:
        raise CellContractError(
            f"{where}: the layer from {call} with units={more} fails on an input of shape "
            f"(None, {settings.window}, {settings.channels}): {type(exc).__name__}: "
            f"{first_line(exc)}"
        ) from exc
    if not isinstance(other_last, int) or other_last * units != last * more:
        raise CellContractError(
            f"{where}: {call} does not follow request.units: asked for {units} and {more} "
            f"units, its layers output {last} and {other_last} on the last axis; build the "
            "layer with request.units"
        )
