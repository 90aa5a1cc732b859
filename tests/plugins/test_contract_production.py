"""The contract kit reproduces production: the saved models are loaded in a fresh process
through the plugin's entry point, as a forecast-only run loads them; a cell must follow
`request.units`, and a `build` with the wrong arguments gets a plain message."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import pytest

from candlecast.core.errors import ModelError, PluginError
from candlecast.plugins.testing import CellContractError, check_cell
from candlecast.plugins.testing.fresh import FRESH_HINT
from tests.fixtures.plugins import install_plugin

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE_SRC = ROOT / "examples" / "cell-plugin-template" / "src"

LATE_REGISTER = '''
from candlecast.plugins import hookimpl


class LateRegisterCell:
    """Defines and registers its Keras class inside build(), as a template comment invited."""

    name = "late_register"
    description = "registers its layer class inside build() (broken)"

    def build(self, request, cells):
        import keras

        @keras.saving.register_keras_serializable(package="late_register")
        class LateGRU(keras.layers.Layer):
            def __init__(self, units, return_sequences=False, **kwargs):
                super().__init__(**kwargs)
                self.units = units
                self.return_sequences = return_sequences
                self.gru = keras.layers.GRU(units, return_sequences=return_sequences)

            def call(self, inputs):
                return self.gru(inputs)

            def get_config(self):
                return super().get_config() | {
                    "units": self.units,
                    "return_sequences": self.return_sequences,
                }

        return LateGRU(request.units, return_sequences=request.return_sequences, name=request.name)


@hookimpl
def register_cells(register):
    register(LateRegisterCell())
'''


@pytest.fixture
def installed(plugin_site, monkeypatch):
    """Install a plugin (files + entry point) on this process's import path; import its
    module; forget it afterwards."""
    imported: list[str] = []

    def install(distribution: str, entry: str, module: str, files: dict[str, str], *paths: Path):
        install_plugin(plugin_site, distribution, {entry: module}, files)
        for path in (plugin_site, *paths):
            monkeypatch.syspath_prepend(str(path))
        imported.append(module.split(".")[0])
        return importlib.import_module(module)

    try:
        yield install
    finally:
        for name in [m for m in sys.modules if m.split(".")[0] in imported]:
            sys.modules.pop(name)


@pytest.mark.slow
def test_a_layer_registered_inside_build_passes_in_process_but_is_rejected_in_a_fresh_one(
    installed, tmp_path
):
    module = installed(
        "candlecast-late-register",
        "late_register",
        "late_register_cell",
        {"late_register_cell.py": LATE_REGISTER},
    )
    with pytest.raises(CellContractError) as error:
        check_cell(module.LateRegisterCell(), heads=("seq2vec",), tmp_path=tmp_path / "models")
    message = str(error.value)
    # the in-process reload passed (build() had registered the class); the fresh process,
    # which loads the plugin through its entry point and never calls build(), refuses it
    assert message.startswith(
        "cell 'late_register' with head seq2vec: the saved model does not load in a fresh "
        "process, as a forecast-only run loads it (entry point candlecast-late-register, "
        "build() not called): layer 'encoder_0' (LateGRU) is a custom class that is not "
        "registered with Keras"
    ), message
    assert message.endswith(FRESH_HINT)


@pytest.mark.slow
def test_the_template_installed_by_its_entry_point_loads_in_a_fresh_process(installed, tmp_path):
    package = installed("candlecast-my-cell", "my_cell", "candlecast_my_cell", {}, TEMPLATE_SRC)
    report = check_cell(
        package.MyCell(), heads=("seq2vec2seq",), params={"depth": 2}, tmp_path=tmp_path
    )
    assert report.fresh_load == "entry point candlecast-my-cell"
    head = report.heads["seq2vec2seq"]
    assert head.fresh_diff is not None and head.fresh_diff <= 1e-6
    assert head.reload_diff <= 1e-6
    assert "saved models loaded in a fresh process: entry point candlecast-my-cell" in (
        report.summary()
    )


class FixedWidth:
    """Builds 8 units whatever it is asked: 8 is a multiple of the kit's 4 units."""

    name = "fixed_width"
    description = "always 8 units (broken)"

    def build(self, request, cells):
        import keras

        return keras.layers.GRU(8, return_sequences=request.return_sequences, name=request.name)


class NoCells:
    name = "no_cells"
    description = "build without the cells argument (broken)"

    def build(self, request):
        raise AssertionError("never called")


def test_a_cell_that_builds_a_fixed_unit_count_fails_the_kit():
    with pytest.raises(CellContractError) as error:
        check_cell(FixedWidth(), heads=("seq2vec",))
    assert str(error.value) == (
        "cell 'fixed_width' with head seq2vec: build(return_sequences=False) does not follow "
        "request.units: asked for 4 and 5 units, its layers output 8 and 8 on the last axis; "
        "build the layer with request.units"
    )


def test_a_build_without_the_cells_argument_gets_a_plain_message(builtin_cells):
    expected = (
        "cell 'no_cells': its build(self, request) cannot be called as build(request, cells); "
        "define it as `def build(self, request, cells)`"
    )
    with pytest.raises(CellContractError) as error:
        check_cell(NoCells())
    assert str(error.value).startswith(expected)
    # the same words when a run assembles a network around it
    from candlecast.core.models.builder import Architecture, build_model

    arch = Architecture(head="seq2vec", window=12, horizon=4, channels=3, known=0, units=4)
    with pytest.raises(PluginError) as run_error:
        build_model(NoCells(), builtin_cells, arch)
    assert not isinstance(run_error.value, ModelError)
    assert str(run_error.value).startswith(expected)
