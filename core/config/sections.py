"""The sections of the run configuration that say what to forecast and where results go:
source, model and cells, training, backtest, anomalies, publishing, storage. Each forbids
unknown keys; every validator's message names the value and what is allowed."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    field_serializer,
    field_validator,
    model_validator,
)

from candlecast.core.errors import ConfigError
from candlecast.core.market.timeframes import timeframe_seconds

if TYPE_CHECKING:
    from candlecast.core.storage.location import Location

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
    exchange: str = Field(
        "binance",
        description="ccxt: the exchange id; csv: the exchange its series are labelled with "
        "(default csv)",
    )
    url: str | None = Field(None, description="override the exchange's REST base URL (sandbox)")
    symbols: list[str] = Field(default_factory=lambda: ["BTC/USDT"], min_length=1)
    timeframe: str = "1h"
    history_days: float = Field(365, gt=0, description="how far back the first run backfills")
    path: Path | None = Field(None, description="csv source: the candle file")
    max_gap: int = Field(3, ge=0, description="fill gaps up to this many candles")
    on_long_gap: Literal["split", "fail"] = "split"
    timeout_s: float = Field(30, gt=0)
    retries: int = Field(5, ge=0, le=20)
    reread_candles: int = Field(
        3,
        ge=0,
        le=1000,
        description="exchange: stored candles every incremental fetch asks for again (in the "
        "same request) so that corrections land",
    )

    @model_validator(mode="before")
    @classmethod
    def _csv_label(cls, data: Any) -> Any:
        """A CSV's series are labelled `csv` unless `exchange` names where the file came from."""
        if isinstance(data, dict) and data.get("name") == "csv" and "exchange" not in data:
            return {**data, "exchange": "csv"}
        return data

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
    targets: list[Literal["close", "open", "high", "low", "volume", "range"]] = Field(
        default_factory=lambda: ["close", "volume"],
        min_length=1,
        description="what to forecast: each target gets its own networks, champion, intervals",
    )
    transform: Literal["log_return", "difference", "level", "log1p", "log1p_difference"] | None = (
        Field(None, description="every target's transform; default: per target, see transforms")
    )
    transforms: dict[
        str, Literal["log_return", "difference", "level", "log1p", "log1p_difference"]
    ] = Field(
        default_factory=dict,
        description="per-target transforms, e.g. {volume = 'log1p'}; default: log_return for "
        "prices, log1p for volume and range",
    )
    features: list[Literal["calendar", "volume", "trend", "range", "seasonal"]] = Field(
        default_factory=lambda: ["calendar"]
    )
    loss: Literal["mse", "mae", "huber"] = "mse"
    optimizer: Literal["adam", "rmsprop", "sgd"] = "adam"
    learning_rate: float = Field(1e-3, gt=0, lt=1)

    @model_validator(mode="before")
    @classmethod
    def _single_target(cls, data: Any) -> Any:
        """`target = "close"` (one target, as configurations before several targets said it)
        means `targets = ["close"]`."""
        if isinstance(data, dict) and "target" in data:
            data = dict(data)
            if "targets" in data:
                raise ValueError(
                    "give `targets` (a list, e.g. targets = ['close', 'volume']) or the older "
                    "`target`, not both"
                )
            data["targets"] = [data.pop("target")]
        return data

    @model_validator(mode="after")
    def _checks(self) -> ModelConfig:
        if len(set(self.targets)) != len(self.targets):
            raise ValueError(f"targets must be distinct, got {self.targets}")
        unknown = sorted(set(self.transforms) - set(self.targets))
        if unknown:
            raise ValueError(
                f"transforms names {unknown}, which are not among targets {self.targets}"
            )
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

    def transform_for(self, target: str) -> str:
        """`transforms[target]`, else `transform`, else log returns for prices; for volume and
        the high-low range, which revert to their usual level rather than wander, the log1p
        level (it scored MAE/naive 0.765 on the benchmark's log1p(volume) against 0.798 for
        changes from the origin)."""
        if target in self.transforms:
            return self.transforms[target]
        if self.transform is not None:
            return self.transform
        return "log1p" if target in ("volume", "range") else "log_return"

    def for_target(self, target: str) -> ModelConfig:
        """This configuration for the networks of one target (what they are built and
        fingerprinted with)."""
        return self.model_copy(
            update={
                "targets": [target],
                "transform": self.transform_for(target),
                "transforms": {},
            }
        )

    @property
    def target(self) -> str:
        """The target of a one-target configuration (`for_target`): what a network learns."""
        if len(self.targets) != 1:
            raise ConfigError(
                f"this model configuration has {len(self.targets)} targets {self.targets}; a "
                "network is built for one (ModelConfig.for_target)"
            )
        return self.targets[0]

    @property
    def resolved_transform(self) -> str:
        """The transform of a one-target configuration's network."""
        return self.transform_for(self.target)


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
    retrain: Literal["always", "every", "on_drift"] = Field(
        "every",
        description="when a run in mode auto trains: always; every (a model older than "
        "retrain_every_hours); on_drift. The default keeps the hourly run forecast-only between "
        "the daily retraining runs (mode train)",
    )
    retrain_every_hours: float = Field(24, gt=0, description="policy 'every': model age limit")
    drift_factor: float = Field(1.5, gt=1.0, description="policy 'on_drift': error ratio")
    warm_start_epochs: int = Field(0, ge=0, description=">0: continue the previous model")
    threads: int | None = Field(None, ge=1, description="TensorFlow threads per training")


class BacktestConfig(Section):
    """Walk-forward evaluation at the end of the history (the selection backtest), the
    combination candidate, the interval method and the champion rule.

    The default fits each model once, before the first origin, and forecasts from origins three
    candles apart over the last four weeks (224 origins for hourly candles, and never fewer than
    48): enough residuals per horizon step to calibrate intervals, and enough weeks that the
    champion is not chosen on a few days' luck.
    """

    enabled: bool = Field(True, description="the backtest always runs (see _always)")
    folds: int = Field(1, ge=1, le=500, description="chronological groups of origins")
    span_days: float = Field(
        28, gt=0, le=3650, description="the origins cover at least this many days"
    )
    origins_per_fold: int | None = Field(
        None, ge=1, le=5000, description="default: span_days / step, and at least 48 in all"
    )
    step: int | None = Field(3, ge=1, description="candles between origins (None: horizon)")
    scheme: Literal["expanding", "sliding"] = "expanding"
    sliding_window: int | None = Field(None, ge=10, description="scheme 'sliding': train length")
    refit: bool = Field(False, description="refit in every fold (slow) or fit once")
    store_forecasts: bool = Field(
        True,
        description="store each registered network's backtest forecasts with its version, so "
        "a run that reuses the model reads them instead of recomputing them (without refit)",
    )
    baselines: list[Literal["naive", "seasonal_naive", "drift", "ets", "theta", "garch"]] = Field(
        default_factory=lambda: ["naive", "seasonal_naive", "drift", "ets", "theta", "garch"]
    )
    combination: Literal["skill", "equal", "off"] = Field(
        "skill",
        description="the `combination` candidate of every network and statistical model: "
        "weighted by 1 / their backtest metric (skill), their plain mean (equal), or none (off)",
    )
    combine_top: int | None = Field(
        None, ge=2, le=50, description="combine only the best N of them (default: all)"
    )
    intervals: Literal["normalised", "static"] = Field(
        "normalised",
        description="normalised: conformal on residuals scaled by the volatility at each origin "
        "(bands widen in turbulent hours); static: conformal on the raw residuals",
    )
    volatility_halflife_days: float = Field(
        2.0, gt=0, description="half-life of the volatility estimate the bands follow"
    )
    metric: Literal["mase", "mae", "rmse", "smape"] = "mase"
    tie_tolerance: float = Field(
        0.01, ge=0.0, lt=1.0, description="within this relative margin the simpler model wins"
    )
    levels: list[float] = Field(default_factory=lambda: [0.8, 0.95])

    @field_validator("enabled")
    @classmethod
    def _always(cls, value: bool) -> bool:
        if not value:
            raise ValueError(
                "the backtest cannot be turned off: it chooses the champion and calibrates the "
                "intervals; to make it cheaper lower backtest.span_days or origins_per_fold"
            )
        return value

    def resolved_step(self, horizon: int) -> int:
        return self.step or horizon

    @field_validator("levels")
    @classmethod
    def _levels(cls, value: list[float]) -> list[float]:
        for level in value:
            if not 0.0 < level < 1.0:
                raise ValueError(f"interval level {level} must be between 0 and 1 (e.g. 0.8)")
        return sorted(set(value))


DEFAULT_TARGET_FPR = 0.002
"""False flags per clean candle that each detector's thresholds aim at (each ranked part of
the surprise detector, each kind of the irregular one): one in 500. The one default: the
configuration, a detection context built without a rate and the benches take it from here."""


class AnomalyConfig(Section):
    enabled: bool = True
    target_fpr: float = Field(
        DEFAULT_TARGET_FPR, gt=0.0, lt=0.5, description="false-positive rate target, per detector"
    )
    detectors: list[str] | None = Field(
        None, description="detector plugins; default: every registered one but opt-in ones"
    )
    merge: bool = Field(
        True,
        description="flags of several detectors on one candle merge into one flag whose score "
        "is a rarity (0.3 = 1 in 1,000), comparable across detectors and series",
    )
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
    artifact_dir: Path | str | None = Field(
        None, description="model files; a folder or an fsspec URL (s3://bucket/models); "
        "default: data_home/models",
    )  # fmt: skip
    outputs_dir: Path | str | None = Field(
        None, description="the files publisher's runs/ and latest/; a folder or an fsspec URL; "
        "default: data_home/outputs",
    )  # fmt: skip
    reports_dir: Path | str | None = Field(
        None, description="HTML reports and their index; a folder or an fsspec URL; "
        "default: data_home/reports",
    )  # fmt: skip
    storage_options: dict[str, Any] = Field(
        default_factory=dict,
        description="fsspec options of those URLs (e.g. endpoint_url, client_kwargs); "
        "credentials come from the environment, never from here",
    )
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

    @field_validator("artifact_dir", "outputs_dir", "reports_dir", mode="before")
    @classmethod
    def _location(cls, value: Any) -> Any:
        """A plain path or a `file://` URL is a local folder (a Path); any other URL stays as
        it is, for fsspec."""
        if isinstance(value, str | Path):
            from candlecast.core.storage.location import local_form

            return local_form(value)
        return value

    @field_validator("storage_options")
    @classmethod
    def _no_credentials(cls, value: dict[str, Any]) -> dict[str, Any]:
        from candlecast.core.storage.location import SECRET_OPTIONS

        secret = sorted(k for k in value if k.lower() in SECRET_OPTIONS)
        if secret:
            raise ValueError(
                f"{', '.join(secret)} would put credentials into the configuration: give them "
                "to the store's client through the environment instead (AWS_ACCESS_KEY_ID and "
                "AWS_SECRET_ACCESS_KEY for S3, or a profile or instance role)"
            )
        return value

    @property
    def resolved_database_url(self) -> str:
        if self.database_url and self.database_url.startswith(SECRET_PREFIX):
            raise ConfigError(
                f"storage.database_url is the Prefect Secret reference {self.database_url!r}, "
                "which only a Prefect flow run or the candlecast CLI resolves"
            )
        return self.database_url or f"sqlite:///{self.data_home / 'candlecast.db'}"

    @property
    def resolved_artifact_dir(self) -> Path | str:
        return self.artifact_dir or self.data_home / "models"

    @property
    def artifacts(self) -> Location:
        """Where model files go (`artifact_dir`), with the storage options."""
        return self._at(self.resolved_artifact_dir)

    @property
    def outputs(self) -> Location:
        """Where the files publisher writes (`outputs_dir`)."""
        return self._at(self.outputs_dir or self.data_home / "outputs")

    @property
    def reports(self) -> Location:
        """Where reports and their index go (`reports_dir`)."""
        return self._at(self.reports_dir or self.data_home / "reports")

    def location(self, url: str | Path) -> Location:
        """`url` (e.g. a registered model's path) with the storage options."""
        return self._at(url)

    def _at(self, where: str | Path) -> Location:
        from candlecast.core.storage.location import Location

        return Location.of(where, self.storage_options)
