"""What the flow needs around the core: the run's configuration (secrets resolved), plugins
resolved up front, the store, run ids, a redacted config and its hash."""

from __future__ import annotations

import functools
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from candlecast.core.config import ENV_URLS, Config, load_config
from candlecast.core.config.locate import locate_config
from candlecast.core.errors import CandlecastError
from candlecast.core.storage.engine import redact_url
from candlecast.core.storage.store import Store
from candlecast.flows.secret_refs import resolve_secrets
from candlecast.plugins.manager import get_host


def resolve_config(config: Config | dict | None, config_path: str | None) -> Config:
    """The run's Config from a Config, a dict (a deployment's parameter) or a TOML path; with
    none of them, the file CANDLECAST_CONFIG names or ./candlecast.toml (`locate_config`).

    A database URL given with a redacted password (`user:***@host`, as deployments store it)
    takes the real one from CANDLECAST_DATABASE_URL / CANDLECAST_SQL_URL on the machine that
    runs the flow: a password never travels in a deployment's parameters."""
    if isinstance(config, Config):
        resolved = config
    elif config is not None:
        resolved = Config.model_validate(config)
    else:  # neither: CANDLECAST_CONFIG or ./candlecast.toml (core/config/locate.py)
        resolved = load_config(Path(config_path) if config_path else locate_config())
    for (section, key), variable in ENV_URLS.items():
        value = getattr(getattr(resolved, section), key)
        if value and ":***@" in value:
            secret = os.environ.get(variable)
            if not secret:
                raise CandlecastError(
                    f"{section}.{key} is {value!r} (password redacted): set {variable} to the "
                    "full URL on the machine that runs the flow"
                )
            resolved = resolved.model_copy(deep=True)
            setattr(getattr(resolved, section), key, secret)
    return resolve_secrets(resolved)  # secret:<block> references (flows/secret_refs.py)


@dataclass
class Plugins:
    source: Any
    cells: dict[str, Any]  # every registered cell (bidirectional wraps others)
    publishers: dict[str, Any]
    detectors: dict[str, Any]


def resolve_plugins(config: Config) -> Plugins:
    """Every plugin the config names, or a PluginError naming the unknown one and the choices."""
    host = get_host()
    source = host.resolve("sources", [config.source.name])[config.source.name]
    host.resolve("cells", [c.name for c in config.model.cells])
    publishers = host.resolve("publishers", list(config.publish.publishers))
    detectors = (
        host.resolve("detectors", list(config.anomalies.detectors))
        if config.anomalies.detectors is not None
        else default_detectors(host.get("detectors"))
    )
    return Plugins(source, host.get("cells"), publishers, detectors)


def default_detectors(registered: dict[str, Any]) -> dict[str, Any]:
    """The detectors a config that names none runs: every registered one but those that are
    `opt_in` (the decomposition-based irregular detector, which is not streaming)."""
    return {name: d for name, d in registered.items() if not getattr(d, "opt_in", False)}


@functools.lru_cache(maxsize=8)
def open_store(url: str) -> Store:
    """One Store (engine, tables created) per database URL and process."""
    return Store(url).create()


def redacted_config(config: Config) -> dict[str, Any]:
    data = config.model_dump(mode="json")
    if data["storage"].get("database_url"):
        data["storage"]["database_url"] = redact_url(data["storage"]["database_url"])
    if data["publish"].get("sql_url"):
        data["publish"]["sql_url"] = redact_url(data["publish"]["sql_url"])
    return data


def config_hash(config: Config) -> str:
    text = json.dumps(redacted_config(config), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def new_run_id(now: pd.Timestamp, config: Config) -> str:
    return f"{now.strftime('%Y%m%dT%H%M%SZ')}-{config_hash(config)[:6]}"
