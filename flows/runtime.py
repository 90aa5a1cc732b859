"""What the flow needs around the core: plugins resolved up front, the store, run ids,
a redacted config and its hash."""

from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import dataclass
from typing import Any

import pandas as pd

from candlecast.core.config import Config
from candlecast.core.storage.engine import redact_url
from candlecast.core.storage.store import Store
from candlecast.plugins.manager import get_host


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
        else host.get("detectors")
    )
    return Plugins(source, host.get("cells"), publishers, detectors)


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
