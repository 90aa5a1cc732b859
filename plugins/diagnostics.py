"""What went wrong with a plugin, in the words its author needs (after `pytest --trace-config`
and `llm plugins`): a hook with the wrong arguments gets the expected signature, a misspelled
hook the ones that exist, and a plugin that registered nothing the likely reason.

The plugin manager (`manager.py`) calls these; nothing here loads or registers plugins.
"""

from __future__ import annotations

import difflib
import inspect
from typing import Any

import pluggy

from candlecast.plugins import PROJECT, hookspecs

IMPL_MARKER = f"{PROJECT}_impl"  # the attribute @hookimpl sets on a function
IMPORT_HINT = "from candlecast.plugins import hookimpl"


def known_hooks() -> dict[str, inspect.Signature]:
    """Every hook candlecast declares (plugins/hookspecs.py), with its signature."""
    return {
        name: inspect.signature(function)
        for name, function in inspect.getmembers(hookspecs, inspect.isfunction)
        if hasattr(function, f"{PROJECT}_spec")
    }


def _implementations(plugin: object) -> dict[str, Any]:
    """The plugin's functions marked @hookimpl, by name."""
    return {
        name: value
        for name, value in inspect.getmembers(plugin)
        if callable(value) and hasattr(value, IMPL_MARKER)
    }


def _call(name: str, signature: inspect.Signature) -> str:
    """`register_cells(register)`: the hook's name and its argument names."""
    return f"{name}({', '.join(signature.parameters)})"


def wrong_arguments(plugin: object, plugin_name: str, where: str) -> str:
    """Why pluggy refused to register `plugin`: each hook implementation whose arguments are
    not the hook's, with the signature candlecast calls it with."""
    hooks = known_hooks()
    problems = []
    for name, function in _implementations(plugin).items():
        spec = hooks.get(name)
        if spec is None:
            continue
        try:
            own = inspect.signature(function)
        except (TypeError, ValueError):
            continue
        unknown = [p for p in own.parameters if p not in spec.parameters]
        if unknown:
            problems.append(
                f"its {_call(name, own)} takes {', '.join(map(repr, unknown))}, which candlecast "
                f"does not pass: the hook is {_call(name, spec)}; call register(obj) once for "
                "each thing it adds"
            )
    detail = "; ".join(problems) or "a hook implementation does not match its hook"
    return f"plugin {plugin_name!r} ({where}): {detail}"


def unknown_hooks(pm: pluggy.PluginManager, exc: pluggy.PluginValidationError) -> str:
    """A @hookimpl whose name is no hook: name it, suggest the closest one, list the real ones
    (not the misspelling itself, which pluggy adds to its own list)."""
    plugin = pm.get_name(exc.plugin) if exc.plugin is not None else "?"
    hooks = sorted(known_hooks())
    typos = sorted(
        name
        for name in (_implementations(exc.plugin) if exc.plugin is not None else {})
        if name not in hooks
    )
    parts = []
    for typo in typos or ["?"]:
        close = difflib.get_close_matches(typo, hooks, n=1)
        parts.append(typo + (f" (did you mean {close[0]}?)" if close else ""))
    return (
        f"plugin {plugin!r} implements {', '.join(parts)}, which candlecast does not define; "
        f"known hooks: {', '.join(hooks)}"
    )


def why_nothing(plugin: object, returned: dict[str, Any]) -> str:
    """Why a loaded plugin registered nothing. `returned`: what each of its hooks that ran
    returned (a hook should call `register` and return None)."""
    for hook, value in returned.items():
        if value is not None:
            shown = type(value).__name__
            return (
                f"its {hook} returned a {shown} instead of calling register(...): call "
                f"register(obj) once for each thing it adds"
            )
    if returned:
        hooks = ", ".join(returned)
        return f"its {hooks} ran but never called register(...)"
    hooks = known_hooks()
    unmarked = [
        name
        for name, value in inspect.getmembers(plugin)
        if name in hooks and callable(value) and not hasattr(value, IMPL_MARKER)
    ]
    if unmarked:
        return (
            f"it defines {', '.join(unmarked)} without @hookimpl, so candlecast does not see "
            f"it: decorate it with @hookimpl ({IMPORT_HINT})"
        )
    return (
        f"it implements none of candlecast's hooks ({', '.join(sorted(hooks))}): does the entry "
        f"point name the module that holds them, and are they decorated with @hookimpl "
        f"({IMPORT_HINT})?"
    )
