"""The whole configuration (`Config`) and how it is read: a TOML file, overrides from the CLI
and database URLs from the environment. `load_config` turns pydantic's errors into one
`ConfigError` whose lines each name the field, the value given and what is allowed, before any
work starts."""

from __future__ import annotations

import difflib
import tomllib
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, ValidationError, model_validator

from candlecast.core.config.orchestration import OrchestrationConfig, ScheduleConfig
from candlecast.core.config.sections import (
    SECRET_PREFIX,
    AnomalyConfig,
    BacktestConfig,
    ModelConfig,
    PublishConfig,
    Section,
    SourceConfig,
    StorageConfig,
    TrainingConfig,
    shown_url,
)
from candlecast.core.errors import ConfigError


class Config(Section):
    """The whole run configuration (see `candlecast init` for a commented file)."""

    source: SourceConfig = Field(default_factory=SourceConfig)
    model: ModelConfig = Field(default_factory=ModelConfig)
    training: TrainingConfig = Field(default_factory=TrainingConfig)
    backtest: BacktestConfig = Field(default_factory=BacktestConfig)
    anomalies: AnomalyConfig = Field(default_factory=AnomalyConfig)
    publish: PublishConfig = Field(default_factory=PublishConfig)
    storage: StorageConfig = Field(default_factory=StorageConfig)
    orchestration: OrchestrationConfig = Field(default_factory=OrchestrationConfig)
    schedule: ScheduleConfig = Field(default_factory=ScheduleConfig)

    def for_target(self, target: str) -> Config:
        """This configuration as the networks of one target see it: `model` narrowed to
        `target` (`ModelConfig.for_target`), everything else shared."""
        return self.model_copy(update={"model": self.model.for_target(target)})

    def cluster_storage_problem(self) -> str | None:
        """Why this configuration cannot run on a Dask cluster of other machines
        (`orchestration.dask_address` not on a loopback address), or None. Tasks on the workers write the database: an
        SQLite file lives on one machine's disk, and a file on a disk that several machines
        share (NFS) breaks SQLite's locking. A Prefect Secret reference is checked once the
        flow has resolved it."""
        orchestration = self.orchestration
        if orchestration.task_runner != "dask" or not orchestration.dask_address:
            return None
        if _on_this_machine(orchestration.dask_address):  # e.g. `candlecast serve`'s workers
            return None
        url = self.storage.database_url
        if url is not None and (url.startswith(SECRET_PREFIX) or not url.startswith("sqlite")):
            return None
        where = url if url is not None else f"the default SQLite file in {self.storage.data_home}"
        return (
            f"orchestration.dask_address = {orchestration.dask_address!r} runs tasks on other "
            f"machines, but the database is {where}: an SQLite file is on one machine's disk, "
            "and the workers' tasks write the database (models, candles, locks). Use "
            "PostgreSQL, reachable from every worker: set storage.database_url or "
            "CANDLECAST_DATABASE_URL to postgresql+psycopg2://user@host/db (see "
            "docs/operations.md, Running on a cluster)"
        )

    @model_validator(mode="after")
    def _cross(self) -> Config:
        if self.source.name == "csv" and self.source.path is None:
            raise ValueError("source.name is 'csv' but source.path is not set: name the CSV file")
        return self


def _on_this_machine(address: str) -> bool:
    """Whether a Dask scheduler address is a loopback one (its workers are on this machine)."""
    import ipaddress
    from urllib.parse import urlsplit

    host = urlsplit(address).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _describe(loc: tuple[Any, ...]) -> str:
    return ".".join(str(p) for p in loc)


def _allowed_keys(loc: tuple[Any, ...]) -> list[str]:
    """The keys the section holding `loc` accepts (list indexes such as cells.0 are skipped)."""
    model: type[BaseModel] = Config
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        field = model.model_fields.get(str(part))
        if field is None:
            return []
        candidates = [field.annotation, *getattr(field.annotation, "__args__", ())]
        nested = [c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel)]
        if not nested:
            return []
        model = nested[0]
    return list(model.model_fields)


def _format(error: ValidationError) -> str:
    lines = []
    for item in error.errors():
        loc = tuple(p for p in item["loc"] if p not in ("function-after",))
        where = _describe(loc) or "config"
        if item["type"] == "extra_forbidden":
            allowed = [k for k in _allowed_keys(loc) if k]
            hint = difflib.get_close_matches(str(loc[-1]), allowed, n=1)
            did = f" (did you mean `{hint[0]}`?)" if hint else ""
            lines.append(
                f"`{where}` is not a known setting{did}; allowed here: {', '.join(allowed)}"
            )
            continue
        value = item.get("input")
        if loc and str(loc[-1]).endswith("_url"):  # never a password in an error message
            value = shown_url(value) if isinstance(value, str) else f"<a {type(value).__name__}>"
        shown = repr(value) if not isinstance(value, dict) else "{...}"
        message = item["msg"].removeprefix("Value error, ")
        lines.append(f"`{where}` = {shown}: {message}")
    return "invalid configuration:\n  " + "\n  ".join(lines)


def build_config(data: dict[str, Any]) -> Config:
    """Validate a nested dict into a Config; raises ConfigError with one line per problem."""
    try:
        return Config.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_format(exc)) from None


def read_toml(path: Path) -> dict[str, Any]:
    """Read a TOML file into a dict, with a clear error for a missing or malformed file."""
    if not path.exists():
        raise ConfigError(f"config file {str(path)!r} does not exist (create one: candlecast init)")
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {str(path)!r} is not valid TOML: {exc}") from None


def parse_override(text: str) -> tuple[list[str], Any]:
    """`model.window=72` -> (["model", "window"], 72); the value is parsed as a TOML value."""
    if "=" not in text:
        raise ConfigError(
            f"override {text!r} must look like section.key=value, e.g. model.window=72"
        )
    key, raw = text.split("=", 1)
    path = [p.strip() for p in key.split(".") if p.strip()]
    if not path:
        raise ConfigError(f"override {text!r} names no setting")
    try:
        value = tomllib.loads(f"v = {raw.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw.strip()  # bare words are strings: source.name=csv
    return path, value


def apply_overrides(data: dict[str, Any], overrides: dict[tuple[str, ...], Any]) -> dict[str, Any]:
    """Set dotted paths in a nested dict (a copy); later overrides win."""
    import copy

    merged = copy.deepcopy(data)
    for path, value in overrides.items():
        node = merged
        for part in path[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise ConfigError(f"cannot set `{'.'.join(path)}`: `{part}` is not a section")
            node = child
        node[path[-1]] = value
    return merged


# Credentials stay out of config files: these variables fill the URLs when the file has none.
ENV_URLS = {
    ("storage", "database_url"): "CANDLECAST_DATABASE_URL",
    ("publish", "sql_url"): "CANDLECAST_SQL_URL",
}


def default_config_text() -> str:
    """The commented default configuration that `candlecast init` writes."""
    return (Path(__file__).with_name("default_config.toml")).read_text(encoding="utf-8")


def load_config(
    path: Path | None = None,
    overrides: dict[tuple[str, ...], Any] | None = None,
    environ: dict[str, str] | None = None,
) -> Config:
    """Read `path` (optional), apply overrides, validate. Relative paths resolve from the file.

    Database URLs missing from the file and the overrides come from CANDLECAST_DATABASE_URL and
    CANDLECAST_SQL_URL, so a password never has to be written into a config file.
    """
    import os

    environ = os.environ if environ is None else environ
    data: dict[str, Any] = read_toml(path) if path is not None else {}
    env_overrides = {
        key: environ[var]
        for key, var in ENV_URLS.items()
        if environ.get(var) and key[-1] not in data.get(key[0], {})
    }
    data = apply_overrides(data, env_overrides | (overrides or {}))
    config = build_config(data)
    if path is not None:
        base = path.resolve().parent
        if config.source.path is not None and not config.source.path.is_absolute():
            config.source.path = base / config.source.path
        if not config.storage.data_home.is_absolute():
            config.storage.data_home = base / config.storage.data_home
        for key in ("artifact_dir", "outputs_dir", "reports_dir"):
            folder = getattr(config.storage, key)
            if isinstance(folder, Path) and not folder.is_absolute():  # not a URL
                setattr(config.storage, key, base / folder)
    return config
