"""The plugin's own tests: candlecast's cell contract kit, the parameters, the entry point.

Run them after `pip install -e ".[test]"` with `pytest`.
"""

from __future__ import annotations

import pytest
from candlecast_my_cell import MyCell

from candlecast.core.errors import PluginError
from candlecast.core.models.cell import CellRequest


@pytest.mark.slow
def test_my_cell_keeps_the_cell_contract(cell_contract):
    # `cell_contract` is candlecast's pytest fixture: check_cell with the test's tmp_path.
    # It builds the cell with every head, trains a few steps, saves and reloads the model in
    # safe mode, and loads the saved models in a fresh process as a forecast-only run does
    # (through the entry point: `pip install -e .` first); a broken cell fails saying what.
    report = cell_contract(MyCell(), params={"depth": 2})
    assert set(report.heads) == {"seq2vec", "seq2seq", "seq2vec2seq"}
    assert report.fresh_load == "entry point candlecast-my-cell"
    print(report.summary())


@pytest.mark.parametrize("depth", [1, 3])
def test_depth_stacks_that_many_gru_layers(depth):
    layer = MyCell().build(
        CellRequest(units=4, return_sequences=False, params={"depth": depth}), {}
    )
    assert [type(inner).__name__ for inner in layer.grus] == ["GRU"] * depth
    assert [type(inner).__name__ for inner in layer.norms] == ["LayerNormalization"] * depth
    assert layer.get_config()["depth"] == depth


def test_the_layer_class_is_registered_when_the_plugin_is_imported():
    # what a forecast-only run relies on: the class is known before any model is loaded
    import keras
    from candlecast_my_cell.layers import StackedGRU

    assert keras.saving.get_registered_object("candlecast_my_cell>StackedGRU") is StackedGRU


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"depht": 2}, "does not take parameter(s) depht; allowed: depth, recurrent_dropout"),
        ({"depth": 0}, "depth must be an integer from 1 to 4, got 0"),
        ({"recurrent_dropout": 1.5}, "recurrent_dropout must be a number in [0, 1), got 1.5"),
    ],
)
def test_bad_parameters_say_what_is_allowed(params, message):
    with pytest.raises(PluginError) as error:
        MyCell().build(CellRequest(units=4, return_sequences=True, params=params), {})
    assert message in str(error.value)


def test_candlecast_finds_the_cell_through_its_entry_point():
    from candlecast.plugins.manager import PluginHost

    registration = PluginHost().registry()["cells"]["my_cell"]
    assert registration.origin == "entry point candlecast-my-cell"
    assert isinstance(registration.obj, MyCell)
