"""The run configuration: one validated pydantic model (sections in `sections.py` and
`orchestration.py`), read from TOML and overridden from the CLI (`loading.py`)."""

from candlecast.core.config.loading import (
    ENV_URLS,
    Config,
    apply_overrides,
    build_config,
    default_config_text,
    load_config,
    parse_override,
    read_toml,
)
from candlecast.core.config.orchestration import (
    OrchestrationConfig,
    ScheduleConfig,
    available_cores,
    check_cron,
)
from candlecast.core.config.sections import (
    FEATURES,
    HEADS,
    SECRET_PREFIX,
    TARGET_FIELDS,
    TRANSFORMS,
    AnomalyConfig,
    BacktestConfig,
    CellConfig,
    ModelConfig,
    PublishConfig,
    Section,
    SourceConfig,
    StorageConfig,
    TrainingConfig,
    shown_url,
)
from candlecast.core.market.timeframes import SUPPORTED

__all__ = [
    "ENV_URLS",
    "FEATURES",
    "HEADS",
    "SECRET_PREFIX",
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
    "Section",
    "SourceConfig",
    "StorageConfig",
    "TrainingConfig",
    "apply_overrides",
    "available_cores",
    "build_config",
    "check_cron",
    "default_config_text",
    "load_config",
    "parse_override",
    "read_toml",
    "shown_url",
]
