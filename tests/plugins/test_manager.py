"""The plugin manager: built-ins, entry points, duplicates, misspelled hooks, blocking."""

from __future__ import annotations

import sys
import types
from importlib import metadata

import pytest

from candlecast.core.errors import PluginError
from candlecast.plugins import hookimpl
from candlecast.plugins.manager import BUILTIN_PLUGINS, PluginHost


@pytest.fixture
def fake_entry_point(monkeypatch):
    """Install a module as if a package declared it in the `candlecast` entry-point group."""
    created = []

    def install(name: str, module: types.ModuleType) -> None:
        sys.modules[module.__name__] = module
        created.append(module.__name__)
        point = metadata.EntryPoint(name=name, value=module.__name__, group="candlecast")
        original = metadata.entry_points

        def entry_points(**kwargs):
            found = list(original(**kwargs))
            if kwargs.get("group") == "candlecast":
                found.append(point)
            return found

        monkeypatch.setattr(metadata, "entry_points", entry_points)

    try:
        yield install
    finally:
        for name in created:
            sys.modules.pop(name, None)


def _cell_module(
    module_name: str, cell_name: str, hook: str = "register_cells"
) -> types.ModuleType:
    module = types.ModuleType(module_name)

    class ThirdPartyCell:
        name = cell_name
        description = "test cell"

        def build(self, request, cells):
            return cells["gru"].build(request, cells)

    def register(register):
        register(ThirdPartyCell())

    register.__name__ = hook
    setattr(module, hook, hookimpl(register))
    return module


def test_builtins_are_all_registered():
    host = PluginHost(entry_points=False)
    names = {(r.kind, r.name) for r in host.registrations()}
    assert {("cells", n) for n in ("simple", "lstm", "gru", "bidirectional")} <= names
    assert {("sources", "csv"), ("sources", "ccxt")} <= names
    assert {("publishers", "files"), ("publishers", "sql")} <= names
    assert all(r.origin == "builtin" for r in host.registrations())
    assert len(BUILTIN_PLUGINS) == len(set(BUILTIN_PLUGINS))


def test_entry_point_plugins_load_lazily_with_provenance(fake_entry_point):
    fake_entry_point("my_cells", _cell_module("my_cells_pkg", "fancy"))
    host = PluginHost()
    assert host._pm is None  # nothing loaded until asked
    reg = host.registry()["cells"]["fancy"]
    assert reg.plugin == "my_cells" and reg.origin.startswith("entry point")
    assert "fancy" in host.get("cells") and "lstm" in host.get("cells")


def test_duplicate_names_name_both_plugins(fake_entry_point):
    fake_entry_point("shadow", _cell_module("shadow_pkg", "lstm"))
    with pytest.raises(PluginError) as err:
        PluginHost().get("cells")
    message = str(err.value)
    assert "'lstm' is registered twice" in message
    assert "candlecast.plugins.cells.lstm" in message and "'shadow'" in message


def test_a_misspelled_hook_fails_loudly(fake_entry_point):
    fake_entry_point("typo", _cell_module("typo_pkg", "x", hook="register_cell"))
    with pytest.raises(PluginError, match="register_cell"):
        PluginHost().get("cells")


def test_block_and_allow_lists(fake_entry_point, monkeypatch):
    fake_entry_point("extra", _cell_module("extra_pkg", "extra"))
    monkeypatch.setenv("CANDLECAST_BLOCK_PLUGINS", "candlecast.plugins.cells.gru")
    cells = PluginHost().get("cells")
    assert "gru" not in cells and "extra" in cells
    monkeypatch.setenv("CANDLECAST_PLUGINS", "")
    assert "extra" not in PluginHost().get("cells")
    monkeypatch.setenv("CANDLECAST_PLUGINS", "extra")
    assert "extra" in PluginHost().get("cells")


def test_resolve_names_the_unknown_and_the_choices():
    host = PluginHost(entry_points=False)
    with pytest.raises(PluginError) as err:
        host.resolve("cells", ["lstm", "transformer"])
    assert "'transformer'" in str(err.value) and "bidirectional, gru, lstm, simple" in str(
        err.value
    )


def test_runtime_registration_is_removable():
    host = PluginHost(entry_points=False)
    plugin = _cell_module("runtime_pkg", "runtime_cell")
    host.add(plugin, "runtime")
    try:
        assert "runtime_cell" in host.get("cells")
    finally:
        host.remove("runtime")
    assert "runtime_cell" not in host.get("cells")


def test_a_registration_without_a_name_is_refused():
    module = types.ModuleType("nameless")

    @hookimpl
    def register_cells(register):
        register(object())

    module.register_cells = register_cells
    host = PluginHost(entry_points=False)
    host.add(module, "nameless")
    with pytest.raises(PluginError, match="without a `name`"):
        host.get("cells")
