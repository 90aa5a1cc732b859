"""The publisher contract."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, runtime_checkable

from candlecast.core.config import Config
from candlecast.core.results import RunResults


@dataclass
class PublishReport:
    publisher: str
    rows: dict[str, int] = field(default_factory=dict)  # table/file kind -> rows written
    paths: list[Path | str] = field(default_factory=list)  # a remote one as its URL
    note: str = ""


@runtime_checkable
class Publisher(Protocol):
    """Sends a finished run's forecasts, flags and metrics somewhere.

    `publish` must be idempotent (publishing the same run twice leaves one copy) and must not
    leave partial output behind when it fails.
    """

    name: str
    description: str

    def publish(self, results: RunResults, config: Config) -> PublishReport: ...
