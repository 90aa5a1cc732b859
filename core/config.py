"""The run configuration: one validated pydantic model, read from TOML and overridden from the CLI.

Every section forbids unknown keys. `load_config` turns pydantic's errors into one `ConfigError`
whose lines each name the field, the value given and what is allowed, before any work starts.
"""

from __future__ import annotations

import difflib
import re
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_serializer,
    field_validator,
    model_validator,
)

from candlecast.core.errors import ConfigError
from candlecast.core.market.timeframes import SUPPORTED, timeframe_seconds

TARGET_FIELDS = ("close", "open", "high", "low", "volume", "range")
TRANSFORMS = ("log_return", "difference", "level", "log1p", "log1p_difference")
FEATURES = ("calendar", "volume", "trend", "range", "seasonal")
HEADS = ("seq2vec", "seq2seq", "seq2vec2seq")
_NAME = re.compile(r"^[a-z][a-z0-9_\-]{0,62}$")


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class SourceConfig(Section):
    """Where candles come from."""

    name: str = Field("ccxt", description="source plugin: ccxt (an exchange) or csv (a file)")
    exchange: str = Field("binance", description="ccxt exchange id")
    url: str | None = Field(None, description="override the exchange's REST base URL (sandbox)")
    symbols: list[str] = Field(default_factory=lambda: ["BTC/USDT"], min_length=1)
    timeframe: str = "1h"
    history_days: float = Field(365, gt=0, description="how far back the first run backfills")
    path: Path | None = Field(None, description="csv source: the candle file")
    max_gap: int = Field(3, ge=0, description="fill gaps up to this many candles")
    on_long_gap: Literal["split", "fail"] = "split"
    timeout_s: float = Field(30, gt=0)
    retries: int = Field(5, ge=0, le=20)

    @field_validator("timeframe")
    @classmethod
    def _timeframe(cls, value: str) -> str:
        try:
            timeframe_seconds(value)
        except ConfigError as exc:
            raise ValueError(str(exc)) from None
        return value

    @field_validator("symbols")
    @classmethod
    def _symbols(cls, value: list[str]) -> list[str]:
        for symbol in value:
            if not symbol or symbol != symbol.strip():
                raise ValueError(f"symbol {symbol!r} is empty or has surrounding spaces")
        if len(set(value)) != len(value):
            raise ValueError(f"symbols must be unique, got {value}")
        return value


class CellConfig(Section):
    """One recurrent cell to train; `name` is a registered cell plugin."""

    name: str
    label: str | None = Field(None, description="name in reports; defaults to the cell name")
    units: int = Field(32, ge=1, le=4096)
    layers: int = Field(1, ge=1, le=8)
    dropout: float = Field(0.0, ge=0.0, lt=1.0)
    activation: str = "tanh"
    params: dict[str, Any] = Field(default_factory=dict, description="cell-specific parameters")

    @property
    def id(self) -> str:
        return self.label or self.name

    @field_validator("name", "label")
    @classmethod
    def _name(cls, value: str | None) -> str | None:
        if value is not None and not _NAME.match(value):
            raise ValueError(
                f"{value!r} is not a valid name: use lowercase letters, digits, '_' or '-', "
                "starting with a letter"
            )
        return value


def _default_cells() -> list[CellConfig]:
    return [CellConfig(name=n) for n in ("simple", "lstm", "gru", "bidirectional")]


class ModelConfig(Section):
    """What the networks see and predict."""

    cells: list[CellConfig] = Field(default_factory=_default_cells, min_length=1)
    head: Literal["seq2vec", "seq2seq", "seq2vec2seq"] = "seq2vec"
    scope: Literal["series", "global", "both"] = Field(
        "series",
        description="series: one network per series; global: one per cell for all series; "
        "both: backtest both and keep the scope that wins across the universe",
    )
    series_id: bool = Field(True, description="global models: one-hot series id as an input")
    window: int = Field(48, ge=2, description="input candles per sample")
    horizon: int = Field(24, ge=1, le=1000, description="candles to forecast")
    target: Literal["close", "open", "high", "low", "volume", "range"] = "close"
    transform: Literal["log_return", "difference", "level", "log1p", "log1p_difference"] | None = (
        Field(None, description="default: log_return for prices, log1p for volume and range")
    )
    features: list[Literal["calendar", "volume", "trend", "range", "seasonal"]] = Field(
        default_factory=lambda: ["calendar"]
    )
    loss: Literal["mse", "mae", "huber"] = "mse"
    optimizer: Literal["adam", "rmsprop", "sgd"] = "adam"
    learning_rate: float = Field(1e-3, gt=0, lt=1)

    @model_validator(mode="after")
    def _checks(self) -> ModelConfig:
        ids = [c.id for c in self.cells]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(
                f"cells must have distinct labels, {dupes} appear twice: give one a `label`"
            )
        if self.head == "seq2seq" and set(self.features) - {"calendar"}:
            extra = sorted(set(self.features) - {"calendar"})
            raise ValueError(
                f"head 'seq2seq' forecasts by iteration and can only use inputs known in advance "
                f"('calendar'); remove {extra} from features or use seq2vec / seq2vec2seq"
            )
        return self

    @property
    def resolved_transform(self) -> str:
        """Log returns for prices; for volume and the high-low range, which revert to their
        usual level rather than wander, the log1p level (it scored MAE/naive 0.765 on the
        benchmark's log1p(volume) against 0.798 for changes from the origin)."""
        if self.transform is not None:
            return self.transform
        return "log1p" if self.target in ("volume", "range") else "log_return"


class TrainingConfig(Section):
    """Training budget and retraining policy."""

    epochs: int = Field(30, ge=1, le=10_000)
    batch_size: int = Field(64, ge=1, le=65_536)
    patience: int = Field(4, ge=0, description="early stopping patience in epochs")
    validation_fraction: float = Field(0.15, ge=0.0, lt=0.9)
    max_windows: int | None = Field(
        None, ge=10, description="train on at most the newest N windows (budget)"
    )
    seed: int = 42
    retrain: Literal["always", "every", "on_drift"] = "always"
    retrain_every_hours: float = Field(24, gt=0, description="policy 'every': model age limit")
    drift_factor: float = Field(1.5, gt=1.0, description="policy 'on_drift': error ratio")
    warm_start_epochs: int = Field(0, ge=0, description=">0: continue the previous model")
    threads: int | None = Field(None, ge=1, description="TensorFlow threads per training")


class BacktestConfig(Section):
    """Walk-forward evaluation at the end of the history, and the champion rule.

    The default fits each model once, before the first origin, and forecasts 48 origins three
    candles apart with it: enough residuals per horizon step to calibrate intervals.
    """

    enabled: bool = True
    folds: int = Field(1, ge=1, le=500, description="chronological groups of origins")
    origins_per_fold: int = Field(48, ge=1, le=5000)
    step: int | None = Field(3, ge=1, description="candles between origins (None: horizon)")
    scheme: Literal["expanding", "sliding"] = "expanding"
    sliding_window: int | None = Field(None, ge=10, description="scheme 'sliding': train length")
    refit: bool = Field(False, description="refit in every fold (slow) or fit once")
    baselines: list[Literal["naive", "seasonal_naive", "drift", "ets", "theta"]] = Field(
        default_factory=lambda: ["naive", "seasonal_naive", "drift", "theta"]
    )
    metric: Literal["mase", "mae", "rmse", "smape"] = "mase"
    tie_tolerance: float = Field(
        0.01, ge=0.0, lt=1.0, description="within this relative margin the simpler model wins"
    )
    levels: list[float] = Field(default_factory=lambda: [0.8, 0.95])

    def resolved_step(self, horizon: int) -> int:
        return self.step or horizon

    @field_validator("levels")
    @classmethod
    def _levels(cls, value: list[float]) -> list[float]:
        for level in value:
            if not 0.0 < level < 1.0:
                raise ValueError(f"interval level {level} must be between 0 and 1 (e.g. 0.8)")
        return sorted(set(value))


class AnomalyConfig(Section):
    enabled: bool = True
    target_fpr: float = Field(0.002, gt=0.0, lt=0.5, description="false-positive rate target")
    detectors: list[str] | None = Field(None, description="detector plugins; default: all")
    lookback_days: float = Field(90, gt=0, description="history used for decomposition/scores")


SECRET_PREFIX = "secret:"


def shown_url(value: str | None) -> str | None:
    """A database URL as it may be shown or stored: the password as `***`; a Prefect Secret
    reference (`secret:block-name`) as it is."""
    if not value or value.startswith(SECRET_PREFIX):
        return value
    from candlecast.core.storage.engine import redact_url

    return redact_url(value)


class PublishConfig(Section):
    publishers: list[str] = Field(default_factory=lambda: ["files"])
    formats: list[Literal["csv", "parquet", "json"]] = Field(
        default_factory=lambda: ["csv", "parquet"]
    )
    sql_url: str | None = Field(
        None, description="sql publisher: target database URL, or secret:<Prefect Secret block>"
    )

    @field_serializer("sql_url", when_used="json")
    def _hide_sql_password(self, value: str | None) -> str | None:
        # JSON dumps are what leaves the process (Prefect's flow-run parameters, runs.config)
        return shown_url(value)


class StorageConfig(Section):
    data_home: Path = Field(Path("candlecast-data"), description="database, models, outputs")
    database_url: str | None = Field(
        None,
        description="default: SQLite file in data_home; or secret:<Prefect Secret block>",
    )
    artifact_dir: Path | None = Field(None, description="default: data_home/models")
    lock_wait_s: float = Field(
        300,
        ge=0,
        description="a run waits this long for a series another run is processing, then is "
        "refused (0: refused at once)",
    )
    lock_ttl_s: float = Field(
        600,
        ge=1,
        description="a run's series locks expire this long after its last heartbeat (they are "
        "renewed every quarter of it): how soon a crashed machine's series are free again",
    )

    @field_serializer("database_url", when_used="json")
    def _hide_password(self, value: str | None) -> str | None:
        # JSON dumps are what leaves the process (Prefect's flow-run parameters, runs.config)
        return shown_url(value)

    @property
    def resolved_database_url(self) -> str:
        if self.database_url and self.database_url.startswith(SECRET_PREFIX):
            raise ConfigError(
                f"storage.database_url is the Prefect Secret reference {self.database_url!r}, "
                "which only a Prefect flow run or the candlecast CLI resolves"
            )
        return self.database_url or f"sqlite:///{self.data_home / 'candlecast.db'}"

    @property
    def resolved_artifact_dir(self) -> Path:
        return self.artifact_dir or self.data_home / "models"


def available_cores() -> int:
    """CPU cores this process may use (its affinity mask where the OS has one)."""
    import os

    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


class OrchestrationConfig(Section):
    """How one run fans out: the Prefect task runner, and TensorFlow's threads per training."""

    task_runner: Literal["threads", "dask"] = Field(
        "threads", description="threads (one process) or dask (prefect-dask)"
    )
    max_workers: int | None = Field(
        None, ge=1, le=1024, description="threads: tasks at once (default: the cores)"
    )
    dask_address: str | None = Field(
        None, description="dask: an existing scheduler, e.g. tcp://10.0.0.5:8786"
    )
    dask_workers: int | None = Field(
        None, ge=1, le=1024, description="dask LocalCluster: worker processes (default: cores)"
    )
    threads_per_worker: int = Field(1, ge=1, le=256, description="dask LocalCluster")
    tf_threads: int | None = Field(
        None, ge=1, le=1024, description="TensorFlow threads per training (default: cores / "
        "trainings at once)",
    )  # fmt: skip
    train_timeout_s: float | None = Field(
        3600, gt=0, description="a training task running longer fails its (series, cell)"
    )

    @field_validator("dask_address")
    @classmethod
    def _address(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^(tcp|tls|inproc|ucx|ws|wss)://[^\s/]+$", value):
            raise ValueError(
                f"{value!r} is not a Dask scheduler address: use scheme://host:port, "
                "e.g. tcp://10.0.0.5:8786"
            )
        return value

    @model_validator(mode="after")
    def _cluster(self) -> OrchestrationConfig:
        if self.dask_address and self.dask_workers:
            raise ValueError(
                "dask_address (an existing cluster) and dask_workers (a LocalCluster) exclude "
                "each other: set one"
            )
        return self

    def parallel_trainings(self, cores: int | None = None) -> int:
        """How many trainings run at once on this machine. Trainings in one process take turns
        (TensorFlow's seeds are process-wide, so two at once would not be reproducible): one
        with threads, one per worker process with a Dask LocalCluster, and with an existing
        cluster (whose layout is unknown here) as many as there are cores."""
        cores = cores or available_cores()
        if self.task_runner == "threads":
            return 1
        if self.dask_address:
            return cores
        return self.dask_workers or cores

    def resolved_tf_threads(self, cores: int | None = None) -> int:
        """TensorFlow threads per training: `tf_threads`, or the cores shared out over the
        trainings that run at once (at least 1), so parallel trainings do not oversubscribe."""
        if self.tf_threads:
            return self.tf_threads
        cores = cores or available_cores()
        return max(1, cores // self.parallel_trainings(cores))


# (name, lowest, highest, names counted from `lowest`)
_CRON_FIELDS = (
    ("minute", 0, 59, ""),
    ("hour", 0, 23, ""),
    ("day of month", 1, 31, ""),
    ("month", 1, 12, "jan feb mar apr may jun jul aug sep oct nov dec"),
    ("day of week", 0, 7, "sun mon tue wed thu fri sat"),
)
_CRON_ALIASES = ("@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly")


def check_cron(text: str) -> str:
    """A standard five-field cron string (minute hour day-of-month month day-of-week) or an
    alias such as @hourly; ValueError naming the field that is wrong."""
    text = " ".join(str(text).split())
    if text.startswith("@"):
        if text.lower() not in _CRON_ALIASES:
            raise ValueError(f"unknown cron alias {text!r}; allowed: {', '.join(_CRON_ALIASES)}")
        return text.lower()
    parts = text.split(" ")
    if len(parts) != 5:
        raise ValueError(
            f"cron {text!r} has {len(parts)} field(s); need 5: minute hour day-of-month month "
            "day-of-week, e.g. '5 * * * *' (hourly at minute 5)"
        )
    for part, (name, low, high, names) in zip(parts, _CRON_FIELDS, strict=True):
        words = names.split()
        for item in part.split(","):
            body, _, step = item.partition("/")
            if step and (not step.isdigit() or int(step) < 1):
                raise ValueError(f"cron {text!r}: {name} step {step!r} must be a positive integer")
            if body == "*":
                continue
            for value in body.split("-", 1):
                if value.lower() in words:
                    continue
                if not value.isdigit() or not low <= int(value) <= high:
                    raise ValueError(
                        f"cron {text!r}: {name} {value!r} is not a number {low}-{high}"
                        + (f" or a name ({', '.join(words)})" if words else "")
                    )
    return text


class ScheduleConfig(Section):
    """When the deployments run (`candlecast serve`, prefect.yaml) and what a late run does."""

    forecast_cron: str = Field("5 * * * *", description="forecast run (mode auto)")
    retrain_cron: str = Field("35 0 * * *", description="retraining run (mode train)")
    timezone: str = Field("UTC", description="IANA time zone the cron strings are read in")
    late_runs: Literal["skip", "catch_up"] = Field(
        "skip", description="skip: a run due while one runs is cancelled, a late one skipped"
    )
    late_after_minutes: float = Field(
        15, gt=0, description="a run starting this long after its scheduled time is late"
    )

    @field_validator("forecast_cron", "retrain_cron")
    @classmethod
    def _cron(cls, value: str) -> str:
        return check_cron(value)

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"{value!r} is not an IANA time zone (e.g. UTC, Europe/Berlin)"
            ) from None
        return value


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

    @model_validator(mode="after")
    def _cross(self) -> Config:
        if self.source.name == "csv" and self.source.path is None:
            raise ValueError("source.name is 'csv' but source.path is not set: name the CSV file")
        return self


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
        if config.storage.artifact_dir and not config.storage.artifact_dir.is_absolute():
            config.storage.artifact_dir = base / config.storage.artifact_dir
    return config


__all__ = [
    "FEATURES",
    "HEADS",
    "SUPPORTED",
    "TARGET_FIELDS",
    "TRANSFORMS",
    "AnomalyConfig",
    "BacktestConfig",
    "CellConfig",
    "Config",
    "ModelConfig",
    "OrchestrationConfig",
    "PublishConfig",
    "ScheduleConfig",
    "SourceConfig",
    "StorageConfig",
    "TrainingConfig",
    "available_cores",
    "build_config",
    "check_cron",
    "load_config",
    "parse_override",
]
