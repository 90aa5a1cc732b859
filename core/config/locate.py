"""Where a run given no configuration finds its file: `CANDLECAST_CONFIG`, else
`candlecast.toml` in its working directory (for prefect.yaml's deployments: the checkout in
`CANDLECAST_DIR`). A run never falls back to the built-in defaults silently: they would
forecast another universe into another database."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from candlecast.core.errors import ConfigError

CONFIG_ENV = "CANDLECAST_CONFIG"
CONFIG_FILE = "candlecast.toml"


def locate_config(environ: Mapping[str, str] | None = None, cwd: Path | None = None) -> Path:
    """The configuration file of a run given none: the file `CANDLECAST_CONFIG` names (it
    may live outside the code checkout), else `candlecast.toml` in `cwd` (default: the working
    directory). A ConfigError says what to set when neither exists."""
    environ = os.environ if environ is None else environ
    cwd = Path.cwd() if cwd is None else cwd
    named = environ.get(CONFIG_ENV, "").strip()
    if named:
        path = Path(named).expanduser()
        if not path.is_absolute():
            path = cwd / path
        if not path.is_file():
            raise ConfigError(
                f"{CONFIG_ENV}={named} names no file (looked for {path}): set it to the "
                "configuration file on the machine that runs the flow (`candlecast init FILE` "
                "writes one)"
            )
        return path
    path = cwd / CONFIG_FILE
    if path.is_file():
        return path
    raise ConfigError(
        f"this run was given no configuration and there is no {CONFIG_FILE} in its working "
        f"directory {cwd}: set {CONFIG_ENV} to the configuration file on the machine that runs "
        f"the flow (it may live outside the checkout), put a {CONFIG_FILE} there (`candlecast "
        "init`), or give the run a config_path parameter"
    )
