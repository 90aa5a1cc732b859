"""Command groups of the `candlecast` CLI, one module each. Importing this package imports
every module in it, and each module adds its commands to `candlecast.cli.app.app`."""

import importlib
import pkgutil

for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")
