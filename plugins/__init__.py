"""Plugin layer: hook specifications, the plugin manager and the built-in plugins."""

import pluggy

PROJECT = "candlecast"

hookimpl = pluggy.HookimplMarker(PROJECT)
"""Marker for plugin hook implementations: `@hookimpl def register_cells(register): ...`."""
