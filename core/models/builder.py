"""Assemble a Keras model around the recurrent layers a cell plugin builds.

Heads (the seed's sequence shapes that forecasting uses):
  seq2vec      window in, the whole horizon out at once (direct multi-horizon)
  seq2seq      an output at every input step (the next step), forecasting by iteration
  seq2vec2seq  encoder-decoder: the encoder's state vector, repeated and decoded into the horizon

Inputs: "history" `[batch, window, channels]`; "future" `[batch, horizon, known]` (calendar
features of the forecast steps) when there are known-in-advance features and the head uses them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from candlecast.core.errors import ModelError
from candlecast.core.models.cell import Cell, CellRequest, check_build_signature

HEADS = ("seq2vec", "seq2seq", "seq2vec2seq")


@dataclass(frozen=True)
class Architecture:
    """The shape of the network, independent of the data it is trained on."""

    head: str
    window: int
    horizon: int
    channels: int  # input channels per step
    known: int  # known-in-advance channels per forecast step (0: none)
    units: int = 32
    layers: int = 1
    dropout: float = 0.0
    activation: str = "tanh"
    params: Mapping[str, Any] | None = None


def _stack(
    cell: Cell,
    cells: Mapping[str, Cell],
    arch: Architecture,
    x: Any,
    *,
    last_sequences: bool,
    prefix: str,
) -> Any:
    check_build_signature(cell)
    for i in range(arch.layers):
        request = CellRequest(
            units=arch.units,
            return_sequences=last_sequences or i < arch.layers - 1,
            activation=arch.activation,
            dropout=arch.dropout,
            params=dict(arch.params or {}),
            name=f"{prefix}_{i}",
        )
        try:
            layer = cell.build(request, cells)
        except Exception as exc:
            raise ModelError(f"cell {cell.name!r} failed to build its layer: {exc}") from exc
        x = layer(x)
    return x


def build_model(cell: Cell, cells: Mapping[str, Cell], arch: Architecture) -> Any:
    """A compiled-later `keras.Model` with inputs as the module docstring says."""
    import keras
    from keras import layers

    if arch.head not in HEADS:
        raise ModelError(f"head {arch.head!r} is unknown; allowed: {', '.join(HEADS)}")
    history = keras.Input((arch.window, arch.channels), name="history")  # [batch, window, channels]
    inputs = [history]
    future = None
    if arch.known and arch.head != "seq2seq":
        future = keras.Input((arch.horizon, arch.known), name="future")  # [batch, horizon, known]
        inputs.append(future)

    if arch.head == "seq2vec":
        state = _stack(cell, cells, arch, history, last_sequences=False, prefix="encoder")
        if future is not None:
            state = layers.Concatenate(name="with_future")([state, layers.Flatten()(future)])
        hidden = layers.Dense(max(arch.units, arch.horizon), activation="relu", name="hidden")(
            state
        )
        out = layers.Dense(arch.horizon, name="forecast")(hidden)  # [batch, horizon]
    elif arch.head == "seq2seq":
        seq = _stack(cell, cells, arch, history, last_sequences=True, prefix="encoder")
        out = layers.TimeDistributed(layers.Dense(1), name="next_step")(seq)  # [batch, window, 1]
        out = layers.Reshape((arch.window,), name="forecast")(out)  # [batch, window]
    else:  # seq2vec2seq
        state = _stack(cell, cells, arch, history, last_sequences=False, prefix="encoder")
        repeated = layers.RepeatVector(arch.horizon, name="repeat")(
            state
        )  # [batch, horizon, units]
        if future is not None:
            repeated = layers.Concatenate(name="with_future")([repeated, future])
        seq = _stack(cell, cells, arch, repeated, last_sequences=True, prefix="decoder")
        out = layers.TimeDistributed(layers.Dense(1), name="step")(seq)  # [batch, horizon, 1]
        out = layers.Reshape((arch.horizon,), name="forecast")(out)  # [batch, horizon]
    return keras.Model(inputs=inputs, outputs=out, name=f"{cell.name}_{arch.head}")


def make_optimizer(name: str, learning_rate: float) -> Any:
    import keras

    table = {
        "adam": keras.optimizers.Adam,
        "rmsprop": keras.optimizers.RMSprop,
        "sgd": keras.optimizers.SGD,
    }
    if name not in table:
        raise ModelError(f"optimizer {name!r} is unknown; allowed: {', '.join(table)}")
    return table[name](learning_rate=learning_rate, clipnorm=1.0)


def make_loss(name: str) -> Any:
    import keras

    table = {"mse": "mse", "mae": "mae", "huber": keras.losses.Huber()}
    if name not in table:
        raise ModelError(f"loss {name!r} is unknown; allowed: {', '.join(table)}")
    return table[name]
