"""The cell contract kit: every registered cell passes it, broken cells fail it precisely."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import tomllib
from importlib import metadata
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest

from candlecast.core.errors import ConfigError, PluginError
from candlecast.core.models.builder import HEADS
from candlecast.plugins.manager import PluginHost, get_host
from candlecast.plugins.testing import CellContractError, check_cell

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "examples" / "cell-plugin-template"


def _registered_cells() -> list[Any]:
    """Every cell the process-wide host knows (built-ins and installed plugins such as the
    example conv_gru): a new cell gets the contract test for free."""
    try:
        names = sorted(get_host().get("cells"))
    except PluginError as exc:  # a broken installed plugin: one failing test says so
        return [pytest.param(None, marks=pytest.mark.xfail(reason=str(exc), strict=True))]
    return names


# ---- every registered cell ------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize("name", _registered_cells())
def test_every_registered_cell_keeps_the_contract(name, tmp_path):
    cells = get_host().get("cells")
    report = check_cell(cells[name], cells=cells, tmp_path=tmp_path)
    assert report.cell == name
    assert list(report.heads) == list(HEADS)
    for head, result in report.heads.items():
        assert result.forecast_shape == (3, 4)
        assert result.reload_diff <= 1e-6 and result.rerun_diff <= 1e-6
        assert result.epochs >= 1 and np.isfinite(result.train_loss)
        assert result.parameters > 0
        if head == "seq2vec2seq":
            assert set(result.output_shapes) == {False, True}
    assert (
        report.heads["seq2vec"].output_shapes[False][:1] == (None,)
        and len(report.heads["seq2seq"].output_shapes[True]) == 3
    )
    assert sorted(tmp_path.glob("*.keras")) == [
        tmp_path / f"{name}_{head}.keras" for head in sorted(HEADS)
    ]


def test_the_example_plugin_is_among_the_registered_cells_when_installed():
    try:
        metadata.distribution("candlecast-conv-gru")
    except metadata.PackageNotFoundError:
        pytest.skip("examples/candlecast-conv-gru is not installed")
    assert "conv_gru" in _registered_cells()


# ---- broken cells ---------------------------------------------------------------------------
class _Cell:
    name = "broken"
    description = "a deliberately broken cell"

    def build(self, request, cells):
        import keras

        return keras.layers.GRU(
            request.units, return_sequences=request.return_sequences, name=request.name
        )


class IgnoresReturnSequences(_Cell):
    def build(self, request, cells):
        import keras

        return keras.layers.GRU(request.units, return_sequences=True, name=request.name)


class WrongUnits(_Cell):
    def build(self, request, cells):
        import keras

        return keras.layers.GRU(
            request.units + 1, return_sequences=request.return_sequences, name=request.name
        )


class BuildRaises(_Cell):
    def build(self, request, cells):
        raise RuntimeError("no kernel for this cell on this machine")


class ReturnsNotALayer(_Cell):
    def build(self, request, cells):
        return lambda x: x


class ReusesOneLayer(_Cell):
    def __init__(self) -> None:
        self.layer = None

    def build(self, request, cells):
        self.layer = self.layer or super().build(request, cells)
        return self.layer


def _unregistered_layer_class() -> type:
    import keras

    class UnregisteredGRU(keras.layers.Layer):  # no @keras.saving.register_keras_serializable
        def __init__(self, units: int, return_sequences: bool = False, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.units = units
            self.return_sequences = return_sequences
            self.gru = keras.layers.GRU(units, return_sequences=return_sequences)

        def call(self, inputs: Any) -> Any:
            return self.gru(inputs)

        def get_config(self) -> dict[str, Any]:
            return super().get_config() | {
                "units": self.units,
                "return_sequences": self.return_sequences,
            }

    return UnregisteredGRU


class UnregisteredLayer(_Cell):
    def build(self, request, cells):
        layer_class = _unregistered_layer_class()
        return layer_class(
            request.units, return_sequences=request.return_sequences, name=request.name
        )


class LambdaLayer(_Cell):
    def build(self, request, cells):
        import keras

        return keras.Sequential(
            [
                keras.layers.GRU(request.units, return_sequences=request.return_sequences),
                keras.layers.Lambda(lambda x: x * 1.0),
            ],
            name=request.name,
        )


class RandomAtInference(_Cell):
    """Adds unseeded noise whatever `training` says: two forecasts of one model differ."""

    def build(self, request, cells):
        import keras

        return keras.Sequential(
            [
                keras.layers.GRU(request.units, return_sequences=request.return_sequences),
                keras.layers.GaussianNoise(0.5),  # noise only in training: fine
            ],
            name=request.name,
        )


class UnseededInitialiser(_Cell):
    """Draws its initial bias from an unseeded generator: two trainings differ."""

    def build(self, request, cells):
        import keras

        bias = float(np.random.default_rng().normal())  # not from Keras' seeded generators
        return keras.layers.GRU(
            request.units,
            return_sequences=request.return_sequences,
            bias_initializer=keras.initializers.Constant(bias),
            name=request.name,
        )


def _fails(cell: Any, *, heads: tuple[str, ...] = ("seq2vec",), **kwargs: Any) -> str:
    with pytest.raises(CellContractError) as error:
        check_cell(cell, heads=heads, **kwargs)
    assert isinstance(error.value, PluginError)
    return str(error.value)


def test_a_cell_that_ignores_return_sequences_is_reported_with_the_shapes():
    message = _fails(IgnoresReturnSequences())
    assert message == (
        "cell 'broken' with head seq2vec: build(return_sequences=False) returned shape "
        "(None, 12, 4); expected (None, 4); honour request.return_sequences"
    )


def test_a_wrong_last_axis_is_reported_with_the_units():
    message = _fails(WrongUnits(), heads=("seq2seq",))
    assert message == (
        "cell 'broken' with head seq2seq: build(return_sequences=True) returned shape "
        "(None, 12, 5); expected (None, 12, 4); the last axis must be units (4) or a multiple of it"
    )


def test_a_cell_whose_build_raises_is_reported_with_the_error():
    message = _fails(BuildRaises(), heads=("seq2vec2seq",))
    assert message == (
        "cell 'broken' with head seq2vec2seq: build(return_sequences=False) raised "
        "RuntimeError: no kernel for this cell on this machine"
    )


def test_a_build_that_returns_no_layer_or_one_shared_layer_is_reported():
    assert _fails(ReturnsNotALayer()).endswith(
        "build(return_sequences=False) returned function; expected a keras.layers.Layer"
    )
    assert "returned the same layer object twice" in _fails(ReusesOneLayer())


@pytest.mark.slow
def test_an_unregistered_custom_layer_fails_the_safe_mode_reload(tmp_path):
    message = _fails(UnregisteredLayer(), tmp_path=tmp_path)
    assert message.startswith(
        "cell 'broken' with head seq2vec: the saved model could not be reloaded in safe mode: "
        "layer 'encoder_0' (UnregisteredGRU) is a custom class that is not registered with Keras"
    )
    assert "register the layer class with keras.saving.register_keras_serializable" in message


@pytest.mark.slow
def test_a_lambda_layer_fails_the_safe_mode_reload(tmp_path):
    message = _fails(LambdaLayer(), heads=("seq2seq",), tmp_path=tmp_path)
    assert message.startswith(
        "cell 'broken' with head seq2seq: the saved model could not be reloaded in safe mode: "
        "layer 'lambda"
    )
    assert "(Lambda) is a Lambda layer, which safe mode refuses" in message


@pytest.mark.slow
def test_noise_only_in_training_passes_but_an_unseeded_initialiser_fails(tmp_path):
    report = check_cell(RandomAtInference(), heads=("seq2vec",), tmp_path=tmp_path)
    assert report.heads["seq2vec"].rerun_diff <= 1e-6
    message = _fails(UnseededInitialiser(), tmp_path=tmp_path / "unseeded")
    assert message.startswith(
        "cell 'broken' with head seq2vec: two trainings with seed 7 forecast differently"
    )


@pytest.mark.parametrize(
    ("attributes", "message"),
    [
        (
            {"description": "x"},
            "cell Nameless: `name` is missing; a cell needs a `name` string",
        ),
        (
            {"name": "My Cell", "description": "x"},
            "cell 'My Cell': `name` cannot be used in [[model.cells]]: 'My Cell' is not a valid name",
        ),
        ({"name": "nodesc"}, "cell 'nodesc': `description` is missing"),
        ({"name": "nobuild", "description": "x", "build": None}, "has no `build(request, cells)`"),
    ],
    ids=["no-name", "invalid-name", "no-description", "no-build"],
)
def test_a_missing_or_unusable_name_description_or_build_is_reported(attributes, message):
    nameless = type("Nameless", (), {"build": lambda self, request, cells: None} | attributes)
    assert message in _fails(nameless())


def test_unknown_heads_are_a_config_error():
    with pytest.raises(ConfigError, match="each one of: seq2vec, seq2seq, seq2vec2seq"):
        check_cell(_Cell(), heads=("vec2vec",))
    with pytest.raises(ConfigError, match="at least one head"):
        check_cell(_Cell(), heads=())


# ---- the pytest plugin ----------------------------------------------------------------------
def test_the_pytest_plugin_is_an_entry_point_and_imports_no_tensorflow(request):
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    declared = project["project"]["entry-points"]["pytest11"]
    assert declared == {"candlecast": "candlecast.plugins.testing.pytest_plugin"}
    loaded = request.config.pluginmanager.get_plugin("candlecast")
    assert loaded is not None, (
        "candlecast's pytest11 entry point is not installed: pip install -e ."
    )
    assert loaded.__name__ == "candlecast.plugins.testing.pytest_plugin"
    code = (
        "import sys, candlecast.plugins.testing.pytest_plugin, candlecast.plugins.testing; "
        "print(sorted(m for m in ('tensorflow', 'keras', 'pandas') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"


def test_the_cell_contract_fixture_runs_the_kit(cell_contract):
    with pytest.raises(CellContractError, match="build\\(return_sequences=False\\) raised"):
        cell_contract(BuildRaises(), heads=["seq2vec"])


# ---- the plugin template works as it is -------------------------------------------------------
def _template_module() -> ModuleType:
    """examples/cell-plugin-template's package, imported from its source (not installed)."""
    package = TEMPLATE / "src" / "candlecast_my_cell"
    spec = importlib.util.spec_from_file_location(
        "candlecast_my_cell", package / "__init__.py", submodule_search_locations=[str(package)]
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["candlecast_my_cell"] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop("candlecast_my_cell", None)
        raise
    return module


@pytest.fixture
def template_plugin():
    already = "candlecast_my_cell" in sys.modules
    module = sys.modules["candlecast_my_cell"] if already else _template_module()
    try:
        yield module
    finally:
        if not already:
            for name in [m for m in sys.modules if m.split(".")[0] == "candlecast_my_cell"]:
                sys.modules.pop(name)


def test_the_template_declares_its_module_as_a_candlecast_entry_point():
    project = tomllib.loads((TEMPLATE / "pyproject.toml").read_text())
    points = project["project"]["entry-points"]["candlecast"]
    assert points == {"my_cell": "candlecast_my_cell"}
    assert (TEMPLATE / "src" / "candlecast_my_cell" / "__init__.py").is_file()


@pytest.mark.slow
def test_the_template_cell_registers_and_keeps_the_contract(template_plugin, tmp_path):
    host = PluginHost(entry_points=False)
    host.add(template_plugin, "my_cell")
    try:
        registration = host.registry()["cells"]["my_cell"]
        assert registration.plugin == "my_cell"
        cells = host.get("cells")
        report = check_cell(cells["my_cell"], cells=cells, tmp_path=tmp_path)
        assert list(report.heads) == list(HEADS)
        seq = report.heads["seq2vec2seq"].output_shapes
        assert seq == {False: (None, 4), True: (None, 12, 4)}
    finally:
        host.remove("my_cell")
    assert "my_cell" not in host.get("cells")
