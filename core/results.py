"""What one run produces, as plain data: per series, per model. Publishers, the store and the
report all read these objects; nothing here does I/O."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import pandas as pd

from candlecast.core.anomalies.flag import AnomalyEvent, Flag
from candlecast.core.market.candles import SeriesKey

if TYPE_CHECKING:  # statsmodels is only imported where a decomposition is made
    from candlecast.core.decomposition import Decomposition

Stage = Literal["fetch", "prepare", "baselines", "evaluate"]
"""The stage at which a series failed as a whole (a model or a detector fails alone)."""

FORECAST_COLUMNS = (
    "run_id",
    "series",
    "model",
    "family",
    "champion",
    "issued_at",
    "target_time",
    "step",
    "value",
)


@dataclass
class ModelOutcome:
    """One model's part in a series' run."""

    model: str
    family: str  # "network" | "baseline" | "statistical"
    forecast: pd.DataFrame | None = None  # target_time, step, value, lower_<pct>, upper_<pct>
    trained: bool = False  # a fit happened in this run (False: loaded from the registry)
    fit_seconds: float | None = None
    epochs: int | None = None
    version: str | None = None  # registry id of the model that forecast
    note: str | None = None  # why it was retrained / reused / failed
    error: str | None = None


@dataclass
class SeriesOutcome:
    """One series' part in a run. A model that failed is in `models` with its `error` (and no
    forecast); a series that failed as a whole has `error` and the `failed_stage`."""

    key: SeriesKey
    target: str
    origin: pd.Timestamp | None = None  # open time of the last closed candle used
    candles: pd.DataFrame | None = None  # the history used (tail kept for the report)
    quality: dict[str, Any] = field(default_factory=dict)  # notes for the reader: fetch, gaps...
    decomposition: Decomposition | None = None  # of the anomaly look-back window
    models: dict[str, ModelOutcome] = field(default_factory=dict)
    leaderboard: pd.DataFrame | None = None
    champion: str | None = None
    champion_reason: str | None = None
    flags: list[Flag] = field(default_factory=list)
    events: list[AnomalyEvent] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    failed_stage: Stage | None = None
    error: str | None = None

    @property
    def id(self) -> str:
        return str(self.key)

    @property
    def model_failures(self) -> dict[str, str]:
        """Why each model that failed in this run failed (a training timeout, a broken layer)."""
        return {name: m.error for name, m in self.models.items() if m.error}


@dataclass
class RunResults:
    run_id: str
    started: pd.Timestamp
    finished: pd.Timestamp | None = None
    status: str = "running"  # running | ok | partial | failed
    config_hash: str = ""
    config: dict[str, Any] = field(default_factory=dict)  # redacted
    versions: dict[str, str] = field(default_factory=dict)
    series: list[SeriesOutcome] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)

    def forecasts(self) -> pd.DataFrame:
        """Every model's forecast of every series, long format, interval columns wide."""
        parts = []
        for outcome in self.series:
            for model in outcome.models.values():
                if model.forecast is None or model.forecast.empty:
                    continue
                part = model.forecast.copy()
                part.insert(0, "issued_at", outcome.origin)
                part.insert(0, "champion", model.model == outcome.champion)
                part.insert(0, "family", model.family)
                part.insert(0, "model", model.model)
                part.insert(0, "series", outcome.id)
                part.insert(0, "run_id", self.run_id)
                parts.append(part)
        if not parts:
            return pd.DataFrame(columns=list(FORECAST_COLUMNS))
        return pd.concat(parts, ignore_index=True)

    def flags(self) -> pd.DataFrame:
        rows = [
            {"run_id": self.run_id, **flag_row(flag)}
            for outcome in self.series
            for flag in outcome.flags
        ]
        return pd.DataFrame(rows)

    def metrics(self) -> pd.DataFrame:
        """Leaderboards of all series, one row per (series, model)."""
        parts = []
        for outcome in self.series:
            if outcome.leaderboard is not None and not outcome.leaderboard.empty:
                board = outcome.leaderboard.copy()
                board.insert(0, "series", outcome.id)
                board.insert(0, "run_id", self.run_id)
                parts.append(board)
        return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


def flag_row(flag: Flag) -> dict[str, Any]:
    """A Flag dataclass as a flat dict (timestamps kept as pandas Timestamps)."""
    from dataclasses import asdict

    return asdict(flag)
