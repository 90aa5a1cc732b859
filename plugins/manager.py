"""The one plugin manager: built-in plugins, third-party plugins from the `candlecast`
entry-point group (loaded once, lazily, never on import), typed accessors for the core.

Environment:
  CANDLECAST_BLOCK_PLUGINS  comma-separated plugin names (built-in module names such as
                            `candlecast.plugins.cells.gru`, or entry-point names) never loaded
  CANDLECAST_PLUGINS        allow-list for third-party plugins: only these entry-point names load
                            (unset: all installed; empty: none)
"""

from __future__ import annotations

import importlib
import os
import threading
from dataclasses import dataclass
from importlib import metadata
from typing import Any

import pluggy

from candlecast.core.errors import PluginError
from candlecast.plugins import PROJECT, hookspecs
from candlecast.plugins.diagnostics import unknown_hooks, why_nothing, wrong_arguments

ENTRY_POINT_GROUP = "candlecast"
BLOCK_ENV = "CANDLECAST_BLOCK_PLUGINS"
ALLOW_ENV = "CANDLECAST_PLUGINS"
KINDS = ("cells", "sources", "publishers", "detectors")

BUILTIN_PLUGINS = (
    "candlecast.plugins.cells.simple",
    "candlecast.plugins.cells.lstm",
    "candlecast.plugins.cells.gru",
    "candlecast.plugins.cells.bidirectional",
    "candlecast.plugins.sources.csv_source",
    "candlecast.plugins.sources.ccxt.source",
    "candlecast.plugins.publishers.files",
    "candlecast.plugins.publishers.sql",
    "candlecast.plugins.detectors.surprise",
    "candlecast.plugins.detectors.irregular",
    "candlecast.plugins.detectors.volume",
    "candlecast.plugins.detectors.breach",
)


@dataclass(frozen=True)
class Registration:
    """One registered thing and where it came from."""

    kind: str  # "cells" | "sources" | "publishers" | "detectors"
    name: str
    obj: Any
    plugin: str  # the plugin (module or entry-point name) that registered it
    version: str
    origin: str  # "builtin" or "entry point <distribution>"

    def as_dict(self) -> dict[str, str]:
        return {
            "kind": self.kind.rstrip("s"),
            "name": self.name,
            "plugin": self.plugin,
            "version": self.version,
            "origin": self.origin,
            "description": getattr(self.obj, "description", ""),
        }


def _csv_env(name: str) -> set[str] | None:
    raw = os.environ.get(name)
    if raw is None:
        return None
    return {part.strip() for part in raw.split(",") if part.strip()}


def _own_version() -> str:
    try:
        return metadata.version("candlecast")
    except metadata.PackageNotFoundError:  # running from a source tree
        return "0+unknown"


def _check_pending(pm: pluggy.PluginManager) -> None:
    """A hook implementation with no matching spec (a misspelled hook) is an error."""
    try:
        pm.check_pending()
    except pluggy.PluginValidationError as exc:
        raise PluginError(unknown_hooks(pm, exc)) from None


def _register(pm: pluggy.PluginManager, plugin: object, name: str, where: str) -> None:
    """Register `plugin`; a hook with the wrong arguments is a PluginError that shows the
    hook's signature (pluggy's own error reads "unexpected PluginValidationError")."""
    try:
        pm.register(plugin, name=name)
    except pluggy.PluginValidationError:
        raise PluginError(wrong_arguments(plugin, name, where)) from None


class PluginHost:
    """Owns a pluggy manager and the registries built from its hooks."""

    def __init__(self, builtins: tuple[str, ...] = BUILTIN_PLUGINS, entry_points: bool = True):
        self._builtins = builtins
        self._entry_points = entry_points
        self._pm: pluggy.PluginManager | None = None
        self._provenance: dict[str, tuple[str, str]] = {}  # plugin name -> (version, origin)
        self._registry: dict[str, dict[str, Registration]] | None = None
        self._empty: dict[str, str] = {}  # plugin name -> why it registered nothing
        self._lock = threading.RLock()

    # ---- loading ------------------------------------------------------------------------------
    @property
    def pm(self) -> pluggy.PluginManager:
        with self._lock:
            if self._pm is None:
                self._pm = self._load()
            return self._pm

    def _load(self) -> pluggy.PluginManager:
        pm = pluggy.PluginManager(PROJECT)
        pm.add_hookspecs(hookspecs)
        blocked = _csv_env(BLOCK_ENV) or set()
        for name in blocked:
            pm.set_blocked(name)
        version = _own_version()
        for module_name in self._builtins:
            if module_name in blocked:
                continue
            pm.register(importlib.import_module(module_name), name=module_name)
            self._provenance[module_name] = (version, "builtin")
        if self._entry_points:
            self._load_entry_points(pm, blocked)
        _check_pending(pm)
        return pm

    def _load_entry_points(self, pm: pluggy.PluginManager, blocked: set[str]) -> None:
        allowed = _csv_env(ALLOW_ENV)
        for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
            if ep.name in blocked or (allowed is not None and ep.name not in allowed):
                continue
            if pm.get_plugin(ep.name) is not None:
                other = self._provenance.get(ep.name, ("?", "?"))[1]
                raise PluginError(
                    f"two plugins are named {ep.name!r}: {ep.value} and one from {other}"
                )
            try:
                plugin = ep.load()
            except Exception as exc:
                raise PluginError(
                    f"plugin {ep.name!r} ({ep.value}) failed to import: {type(exc).__name__}: {exc}"
                ) from exc
            _register(pm, plugin, ep.name, ep.value)
            dist = ep.dist
            self._provenance[ep.name] = (
                dist.version if dist else "?",
                f"entry point {dist.metadata['Name'] if dist else '?'}",
            )

    # ---- registries ---------------------------------------------------------------------------
    def _collect(self) -> dict[str, dict[str, Registration]]:
        registry: dict[str, dict[str, Registration]] = {kind: {} for kind in KINDS}
        pm = self.pm
        returned: dict[str, dict[str, Any]] = {}  # plugin -> hook -> what it returned
        for kind in KINDS:
            caller = getattr(pm.hook, f"register_{kind}")
            for impl in caller.get_hookimpls():  # registration order: built-ins first
                plugin_name = impl.plugin_name
                version, origin = self._provenance.get(plugin_name, ("?", "registered at run time"))

                def register(
                    obj: Any, *, _kind=kind, _plugin=plugin_name, _v=version, _o=origin
                ) -> None:
                    name = getattr(obj, "name", None)
                    if not isinstance(name, str) or not name:
                        raise PluginError(
                            f"plugin {_plugin!r} registered a {_kind[:-1]} without a `name` string: {obj!r}"
                        )
                    existing = registry[_kind].get(name)
                    if existing is not None:
                        raise PluginError(
                            f"{_kind[:-1]} {name!r} is registered twice: by plugin {existing.plugin!r} "
                            f"({existing.origin}) and by plugin {_plugin!r} ({_o}); block one with "
                            f"{BLOCK_ENV}"
                        )
                    registry[_kind][name] = Registration(_kind, name, obj, _plugin, _v, _o)

                try:
                    value = impl.function(register=register)
                except PluginError:
                    raise
                except Exception as exc:
                    raise PluginError(
                        f"plugin {plugin_name!r} ({origin}): its register_{kind} raised "
                        f"{type(exc).__name__}: {exc}"
                    ) from exc
                returned.setdefault(plugin_name, {})[f"register_{kind}"] = value
        registering = {reg.plugin for kind in KINDS for reg in registry[kind].values()}
        self._empty = {
            name: why_nothing(plugin, returned.get(name, {}))
            for name, plugin in pm.list_name_plugin()
            if name not in registering and plugin is not None
        }
        return registry

    def registry(self) -> dict[str, dict[str, Registration]]:
        with self._lock:
            if self._registry is None:
                self._registry = self._collect()
            return self._registry

    def registrations(self) -> list[Registration]:
        return [reg for kind in KINDS for reg in self.registry()[kind].values()]

    def registered_nothing(self) -> dict[str, tuple[str, str, str]]:
        """Loaded plugins that registered nothing (a hook without @hookimpl, a hook that
        returned its cells instead of calling register): name -> (version, origin, why)."""
        self.registry()
        return {
            name: (*self._provenance.get(name, ("?", "registered at run time")), why)
            for name, why in self._empty.items()
        }

    def get(self, kind: str) -> dict[str, Any]:
        return {name: reg.obj for name, reg in self.registry()[kind].items()}

    def resolve(self, kind: str, names: list[str]) -> dict[str, Any]:
        """The named plugins of one kind, or a PluginError listing what is registered."""
        available = self.get(kind)
        unknown = [n for n in names if n not in available]
        if unknown:
            blocked = sorted(_csv_env(BLOCK_ENV) or ())
            empty = [
                f"; plugin {name!r} ({origin}) registered nothing: {why}"
                for name, (_, origin, why) in self.registered_nothing().items()
            ]
            raise PluginError(
                f"unknown {kind[:-1]}{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))}; "
                f"registered {kind}: {', '.join(sorted(available)) or '(none)'}"
                + (f"; {BLOCK_ENV} blocks the plugin(s) {', '.join(blocked)}" if blocked else "")
                + "".join(empty)
            )
        return {n: available[n] for n in names}

    # ---- run-time registration (tests, notebooks) ------------------------------------------
    def add(self, plugin: object, name: str) -> None:
        with self._lock:
            _register(self.pm, plugin, name, getattr(plugin, "__name__", type(plugin).__name__))
            try:
                _check_pending(self.pm)
            except PluginError:
                self.pm.unregister(name=name)
                raise
            self._registry = None

    def remove(self, name: str) -> None:
        with self._lock:
            self.pm.unregister(name=name)
            self._registry = None


_host: PluginHost | None = None
_host_lock = threading.Lock()


def get_host() -> PluginHost:
    """The process-wide plugin host (created on first use)."""
    global _host
    with _host_lock:
        if _host is None:
            _host = PluginHost()
        return _host


def reset_host() -> None:
    """Forget the loaded plugins (the next access loads them again)."""
    global _host
    with _host_lock:
        _host = None


def get_cells() -> dict[str, Any]:
    return get_host().get("cells")


def get_sources() -> dict[str, Any]:
    return get_host().get("sources")


def get_publishers() -> dict[str, Any]:
    return get_host().get("publishers")


def get_detectors() -> dict[str, Any]:
    return get_host().get("detectors")
