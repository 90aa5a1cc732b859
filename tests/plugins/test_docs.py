"""docs/plugins.md documents every hook, and its runnable examples work (datasette's docs test)."""

from __future__ import annotations

import inspect
import re
import sys
import types
from dataclasses import dataclass
from pathlib import Path

import pytest

from candlecast.core.anomalies.detector import Detector
from candlecast.core.models.cell import Cell
from candlecast.plugins import PROJECT, hookspecs
from candlecast.plugins.manager import PluginHost
from candlecast.plugins.publishers.base import Publisher
from candlecast.plugins.sources.base import Source

DOCS = Path(__file__).resolve().parents[2] / "docs" / "plugins.md"
CONTRACTS = {"cells": Cell, "sources": Source, "publishers": Publisher, "detectors": Detector}
FENCE = re.compile(r"^```(?P<info>[^\n`]*)\n(?P<code>.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)
HEADING = re.compile(r"^## `(?P<hook>\w+)\((?P<args>[^)]*)\)`[ \t]*$", re.MULTILINE)


@dataclass(frozen=True)
class Block:
    info: str
    code: str
    line: int  # line of the block's first code line in docs/plugins.md

    @property
    def runnable(self) -> bool:
        return self.info.split()[:2] == ["python", "runnable"]


def _hooks() -> dict[str, inspect.Signature]:
    """Every hook declared in plugins/hookspecs.py, with its signature."""
    return {
        name: inspect.signature(function)
        for name, function in inspect.getmembers(hookspecs, inspect.isfunction)
        if hasattr(function, f"{PROJECT}_spec")
    }


def _text() -> str:
    return DOCS.read_text(encoding="utf-8")


def _sections() -> dict[str, tuple[str, str, int]]:
    """Hook name -> (its argument list as written, the section's text, its first line)."""
    text = _text()
    headings = list(HEADING.finditer(text))
    ends = [m.start() for m in re.finditer(r"^## ", text, re.MULTILINE)] + [len(text)]
    sections = {}
    for match in headings:
        end = next(e for e in ends if e > match.start())
        line = text.count("\n", 0, match.start()) + 1
        sections[match["hook"]] = (match["args"], text[match.start() : end], line)
    return sections


def _blocks(section: str, first_line: int) -> list[Block]:
    return [
        Block(
            m["info"].strip(),
            m["code"],
            first_line + section.count("\n", 0, m.start("code")),
        )
        for m in FENCE.finditer(section)
    ]


HOOKS = sorted(_hooks())


def test_hookspecs_declares_the_four_hooks():
    assert HOOKS == [
        "register_cells",
        "register_detectors",
        "register_publishers",
        "register_sources",
    ]


@pytest.mark.parametrize("hook", HOOKS)
def test_every_hook_has_a_section_with_its_rules_and_a_runnable_example(hook):
    sections = _sections()
    assert hook in sections, f"docs/plugins.md has no section '## `{hook}(...)`'"
    args, section, line = sections[hook]
    assert args == ", ".join(_hooks()[hook].parameters), (
        f"docs/plugins.md:{line} shows {hook}({args}); the hookspec takes "
        f"({', '.join(_hooks()[hook].parameters)})"
    )
    for rule in ("**When:**", "**Parameters:**", "**Returns:**", "**The object:**"):
        assert rule in section, f"the {hook} section does not say {rule}"
    runnable = [b for b in _blocks(section, line) if b.runnable]
    assert runnable, f"the {hook} section has no ```python runnable example"
    assert any(f"def {hook}(" in b.code for b in runnable), (
        f"no runnable example in the {hook} section implements {hook}"
    )


def test_no_section_documents_a_hook_that_does_not_exist():
    assert sorted(_sections()) == HOOKS


def test_every_python_block_is_valid_python():
    for block in _blocks(_text(), 1):
        if block.info.split()[:1] == ["python"]:
            compile("\n" * (block.line - 1) + block.code, str(DOCS), "exec")


@pytest.mark.parametrize("hook", HOOKS)
def test_the_runnable_examples_register_and_keep_the_contract(hook):
    _, section, line = _sections()[hook]
    kind = hook.removeprefix("register_")
    name = f"candlecast_docs_{kind}"
    module = types.ModuleType(name)
    sys.modules[name] = module  # dataclasses and pickling look modules up by name
    host = PluginHost(entry_points=False)
    before = set(host.get(kind))
    try:
        for block in _blocks(section, line):
            if block.runnable:  # padded so that tracebacks point at docs/plugins.md lines
                exec(compile("\n" * (block.line - 1) + block.code, str(DOCS), "exec"), vars(module))
        host.add(module, name)
        registered = {n: r for n, r in host.registry()[kind].items() if n not in before}
        assert registered, f"the {hook} example registered no {kind[:-1]}"
        for item, registration in registered.items():
            assert registration.plugin == name
            assert isinstance(registration.obj, CONTRACTS[kind]), (
                f"{kind[:-1]} {item!r} from the {hook} example lacks part of "
                f"{CONTRACTS[kind].__name__}"
            )
            assert isinstance(getattr(registration.obj, "description", None), str)
        others = {k: set(host.get(k)) for k in CONTRACTS if k != kind}
        assert others == {k: set(PluginHost(entry_points=False).get(k)) for k in others}
    finally:
        if host.pm.get_plugin(name) is not None:
            host.remove(name)
        sys.modules.pop(name, None)
    assert set(host.get(kind)) == before
