"""What one run produces, as plain data: per series, per target (close, volume, ...), per model.
Publishers, the store and the report all read these objects; nothing here does I/O."""

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
    "target",
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
    family: str  # "network" | "baseline" | "statistical" | "combination"
    forecast: pd.DataFrame | None = None  # target_time, step, value, lower_<pct>, upper_<pct>
    trained: bool = False  # a fit happened in this run (False: loaded from the registry)
    fit_seconds: float | None = None
    epochs: int | None = None
    version: str | None = None  # registry id of the model that forecast
    note: str | None = None  # why it was retrained / reused / failed
    error: str | None = None
    rejected: str | None = None  # its registered model was unusable (retrained in this run): why


@dataclass
class TargetOutcome:
    """One target of one series (its close, its volume, ...): every model's forecast, the
    leaderboard of their backtest, the champion and why. A model that failed is in `models`
    with its `error` (and no forecast)."""

    target: str
    models: dict[str, ModelOutcome] = field(default_factory=dict)
    leaderboard: pd.DataFrame | None = None
    champion: str | None = None
    champion_reason: str | None = None
    notes: list[str] = field(default_factory=list)  # e.g. a model without intervals, and why
    error: str | None = None  # this target could not be evaluated (the others may have been)
    realised: pd.DataFrame | None = None  # earlier published bands against the actuals, by level

    @property
    def model_failures(self) -> dict[str, str]:
        """Why each model that failed in this run failed (a training timeout, a broken layer)."""
        return {name: m.error for name, m in self.models.items() if m.error}

    def champion_forecast(self) -> pd.DataFrame | None:
        model = self.models.get(self.champion) if self.champion else None
        return model.forecast if model is not None else None


@dataclass
class SeriesOutcome:
    """One series' part in a run: its candles, decomposition and anomaly flags, and one
    `TargetOutcome` per forecast target. A series that failed as a whole has `error` and the
    `failed_stage`."""

    key: SeriesKey
    origin: pd.Timestamp | None = None  # open time of the last closed candle used
    candles: pd.DataFrame | None = None  # the history used (tail kept for the report)
    quality: dict[str, Any] = field(default_factory=dict)  # notes for the reader: fetch, gaps...
    decomposition: Decomposition | None = None  # of the anomaly look-back window
    targets: dict[str, TargetOutcome] = field(default_factory=dict)
    flags: list[Flag] = field(default_factory=list)
    events: list[AnomalyEvent] = field(default_factory=list)
    detector_failures: dict[str, str] = field(default_factory=dict)  # detector -> why
    timings: dict[str, float] = field(default_factory=dict)
    failed_stage: Stage | None = None
    error: str | None = None

    @property
    def id(self) -> str:
        return str(self.key)

    def problems(self) -> list[str]:
        """Everything of this series that failed in this run, one sentence each: the series,
        a target, a model, a rejected registered model, the decomposition, the anomaly detection
        as a whole or one detector."""
        if self.error:
            return [f"{self.id}: {self.error}"]
        found = []
        for target in self.targets.values():
            if target.error:
                found.append(f"{self.id} {target.target}: {target.error}")
            for name, model in sorted(target.models.items()):
                if model.error:
                    found.append(f"{self.id} {target.target} {name}: failed: {model.error}")
                if model.rejected:
                    found.append(f"{self.id} {target.target} {name}: {model.rejected}")
        for stage in ("decomposition", "anomalies"):  # a whole stage that failed
            if stage in self.quality:
                found.append(f"{self.id}: {self.quality[stage]}")
        found += [
            f"{self.id}: detector {name} could not run: {why}"
            for name, why in sorted(self.detector_failures.items())
        ]
        return found

    @property
    def model_failures(self) -> dict[str, str]:
        """`target/model` -> why it failed, over every target."""
        return {
            f"{target}/{name}": error
            for target, outcome in self.targets.items()
            for name, error in outcome.model_failures.items()
        }


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
    publish_failures: dict[str, str] = field(default_factory=dict)  # publisher -> why

    def problems(self) -> list[str]:
        """What failed in part, for the status, the CLI, the report: every series' problems
        and every publisher that failed."""
        found = [problem for outcome in self.series for problem in outcome.problems()]
        found += [f"publisher {n} failed: {why}" for n, why in self.publish_failures.items()]
        return found

    def settle_status(self) -> str:
        """`failed` when every series failed, `partial` when anything failed in part (a series,
        target, model, detector or publisher), else `ok`; set and returned."""
        if self.series and all(s.error for s in self.series):
            self.status = "failed"
        else:
            self.status = "partial" if self.problems() else "ok"
        return self.status

    def forecasts(self) -> pd.DataFrame:
        """Every model's forecast of every target of every series, long format, interval
        columns wide."""
        parts = []
        for outcome in self.series:
            for target in outcome.targets.values():
                for model in target.models.values():
                    if model.forecast is None or model.forecast.empty:
                        continue
                    part = model.forecast.copy()
                    part.insert(0, "issued_at", outcome.origin)
                    part.insert(0, "champion", model.model == target.champion)
                    part.insert(0, "family", model.family)
                    part.insert(0, "model", model.model)
                    part.insert(0, "target", target.target)
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
        """Leaderboards of all series and targets, one row per (series, target, model)."""
        parts = []
        for outcome in self.series:
            for target in outcome.targets.values():
                if target.leaderboard is not None and not target.leaderboard.empty:
                    board = target.leaderboard.copy()
                    board.insert(0, "target", target.target)
                    board.insert(0, "series", outcome.id)
                    board.insert(0, "run_id", self.run_id)
                    parts.append(board)
        return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


def flag_row(flag: Flag) -> dict[str, Any]:
    """A Flag dataclass as a flat dict (timestamps kept as pandas Timestamps)."""
    from dataclasses import asdict

    return asdict(flag)
