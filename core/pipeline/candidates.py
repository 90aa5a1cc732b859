"""Candidates for one target of a series: baselines, statistical models and networks, each
backtested on the same folds and then asked for the forecast from the newest candle.

Networks go through the registry (`core.modelling`): a run may reuse a registered model (no
training) or train and register a new one, and `on_drift` retrains when the reused model's
backtest error has drifted from its error at training time.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from candlecast.core.config import CellConfig, Config
from candlecast.core.errors import ConfigError, DataError
from candlecast.core.evaluation.backtest import BacktestResult, backtest
from candlecast.core.evaluation.baselines import (
    DriftForecaster,
    ETSForecaster,
    NaiveForecaster,
    SeasonalNaiveForecaster,
    ThetaForecaster,
)
from candlecast.core.evaluation.folds import FoldSpec, walk_forward
from candlecast.core.evaluation.forecaster import Bands, Forecaster, ForecasterFactory, own_bands
from candlecast.core.evaluation.garch import GarchForecaster
from candlecast.core.evaluation.intervals import DEFAULT_LEVELS
from candlecast.core.evaluation.metrics import mae
from candlecast.core.market.timeframes import seasonal_periods
from candlecast.core.models.cell import Cell
from candlecast.core.models.targets import PRICES
from candlecast.core.pipeline.networks import (
    RegisteredNetwork,
    StoredSpec,
    obtain_global,
    obtain_network,
)
from candlecast.core.pipeline.prepare import PreparedSeries
from candlecast.core.pipeline.retraining import drift_decision
from candlecast.core.pipeline.stored_backtests import StoredForecasts, span_origins
from candlecast.core.results import ModelOutcome
from candlecast.core.storage.backtest_store import BacktestStore
from candlecast.core.storage.fit_store import FitStore
from candlecast.core.storage.registry import ModelRegistry


def interval_mode(target: str) -> str:
    """Relative (log-ratio) intervals for prices, absolute for volume and the range."""
    return "relative" if target in PRICES else "absolute"


def baseline_factories(
    config: Config,
    timeframe: str,
    target: str,
    start: Mapping[str, np.ndarray | None] | None = None,
) -> dict[str, ForecasterFactory]:
    """Every configured baseline; `start`: where a statistical model's fit starts (its last
    fitted parameters), by name."""
    start = {} if start is None else start
    horizon = config.model.horizon
    periods = seasonal_periods(timeframe)
    period = periods[0] if periods else 1
    seasonal = period if period >= 2 else None
    table: dict[str, Callable[[], Forecaster]] = {
        "naive": lambda: NaiveForecaster(horizon),
        "seasonal_naive": lambda: SeasonalNaiveForecaster(period, horizon),
        "drift": lambda: DriftForecaster(horizon),
        "ets": lambda: ETSForecaster(
            horizon, seasonal_period=seasonal, start_params=start.get("ets")
        ),
        "theta": lambda: ThetaForecaster(horizon, period=seasonal),
        "garch": lambda: GarchForecaster(horizon, mode=interval_mode(target)),
    }
    return {name: table[name] for name in config.backtest.baselines}


@dataclass
class Candidate:
    """A model's backtest plus its forecast from the newest candle (`[horizon]`), and its own
    bands there where it has any (GARCH's)."""

    name: str
    family: str
    result: BacktestResult
    forecast: np.ndarray
    forecast_bands: Bands | None = None  # level -> (lower, upper), each [horizon]


def run_candidate(
    name: str,
    factory: ForecasterFactory,
    prepared: PreparedSeries,
    target: str,
    spec: FoldSpec,
    levels: Sequence[float] = DEFAULT_LEVELS,
) -> tuple[Candidate, Forecaster]:
    """Backtest one candidate on `target`, then forecast from the newest candle with the model
    it fitted last (with `refit`, the last fold's model)."""
    fitted: list[Forecaster] = []

    def remembering() -> Forecaster:
        model = factory()
        fitted.append(model)
        return model

    y_all = prepared.values(target)
    levels = tuple(levels)
    result = backtest(remembering, prepared.frame, y_all, spec, name=name, levels=levels)
    model = fitted[-1]
    start = result.folds[-1].train_start
    frame, y = prepared.frame.iloc[start:], y_all.iloc[start:]
    forecast = np.asarray(model.predict_at(frame, y, [len(y) - 1]), dtype="float64")[0]
    if not np.all(np.isfinite(forecast)):
        raise DataError(f"{name} forecast NaN or infinite values from the newest candle")
    bands = own_bands(model, frame, y, [len(y) - 1], levels)
    newest = {lvl: (low[0], high[0]) for lvl, (low, high) in bands.items()} if bands else None
    return Candidate(name, result.family, result, forecast, newest), model


def network_candidate(
    prepared: PreparedSeries,
    target: str,
    cell_config: CellConfig,
    cells: Mapping[str, Cell],
    config: Config,
    registry: ModelRegistry,
    spec: FoldSpec,
    now: pd.Timestamp,
    mode: str = "auto",
) -> tuple[Candidate, ModelOutcome]:
    """Backtest and forecast one cell on one target of a series, through the registry."""
    narrowed = config.for_target(target)

    def attempt(run_mode: str) -> tuple[Candidate, RegisteredNetwork]:
        obtain = functools.partial(
            obtain_network,
            key=prepared.key,
            cell_config=cell_config,
            cells=cells,
            config=narrowed,
            registry=registry,
            now=now,
            mode=run_mode,
        )
        stored = None
        if config.backtest.store_forecasts and not spec.refit:
            stored = StoredSpec(
                str(prepared.key),
                prepared.frame,
                prepared.values(target),
                spec,
                BacktestStore(registry.engine),
            )
        candidate, model = run_candidate(
            cell_config.id,
            lambda: RegisteredNetwork(obtain, cell_config.id, config.model.horizon, stored),
            prepared,
            target,
            spec,
        )
        return candidate, model  # type: ignore[return-value]

    candidate, model = attempt(mode)
    obtained = model.obtained
    rejected = obtained.rejected
    recent_mae = mae(
        candidate.result.forecasts, candidate.result.actuals, candidate.result.mask
    ).overall
    note = obtained.note
    if not obtained.trained:
        drift = drift_decision(narrowed, obtained.record, recent_mae)
        if drift.retrain:
            candidate, model = attempt("train")
            obtained = model.obtained
            recent_mae = mae(
                candidate.result.forecasts, candidate.result.actuals, candidate.result.mask
            ).overall
            note = f"trained: {drift.reason}"
    if obtained.trained:
        registry.update_metrics(obtained.record.model_id, {"mae": recent_mae})
    report = obtained.forecaster.report if obtained.trained else None
    outcome = ModelOutcome(
        model=cell_config.id,
        family="network",
        trained=obtained.trained,
        fit_seconds=float(candidate.result.fit_seconds.sum()) if obtained.trained else 0.0,
        epochs=report.epochs if report else None,
        version=obtained.record.model_id,
        note=note,
        rejected=rejected,
    )
    return candidate, outcome


def baseline_candidates(
    prepared: PreparedSeries,
    target: str,
    config: Config,
    spec: FoldSpec,
    fits: FitStore | None = None,
) -> dict[str, Candidate]:
    """Every configured baseline and statistical model on `target`, on the same folds. With
    `fits`, ETS's maximum-likelihood fit starts from its last fitted parameters (and stores
    its new ones): the same fit, one or two optimiser iterations instead of dozens."""
    out = {}
    levels = config.backtest.levels
    series = str(prepared.key)
    start: dict[str, np.ndarray | None] = {}
    factories = baseline_factories(config, prepared.key.timeframe, target, start)
    if fits is not None and "ets" in factories:
        settings = factories["ets"]().settings  # type: ignore[attr-defined]
        start["ets"] = _stored(lambda: fits.params(series, target, "ets", settings))
    for name, factory in factories.items():
        out[name], model = run_candidate(name, factory, prepared, target, spec, levels)
        if fits is not None and isinstance(model, ETSForecaster) and model.params is not None:
            _stored(lambda m=model: fits.put(series, target, "ets", m.settings, m.params))
    return out


def _stored(call: Callable[[], object]) -> np.ndarray | None:
    """A fit store's answer; it is a starting point only, so a failing store is no error."""
    try:
        return call()  # type: ignore[return-value]
    except Exception:
        return None


def network_factory(
    cell_config: CellConfig,
    cells: Mapping[str, Cell],
    config: Config,
    timeframe: str,
    target: str,
) -> ForecasterFactory:
    """A fresh, unregistered network per call (backtests that must leave no models behind)."""
    from candlecast.core.models.network import NetworkForecaster

    model = config.model.for_target(target)

    def build() -> Forecaster:
        return NetworkForecaster(
            cells[cell_config.name], cells, cell_config, model, config.training, timeframe
        )

    return build


def backtest_candidates(
    prepared: PreparedSeries,
    target: str,
    cells: Mapping[str, Cell],
    config: Config,
    spec: FoldSpec,
) -> dict[str, Candidate]:
    """Every configured cell (unregistered) and baseline on `target`, on the same folds."""
    timeframe = prepared.key.timeframe
    out = {
        cell.id: run_candidate(
            cell.id, network_factory(cell, cells, config, timeframe, target), prepared, target, spec
        )[0]
        for cell in config.model.cells
    }
    return out | baseline_candidates(prepared, target, config, spec)


class Prefitted:
    """A trained forecaster whose `fit` does nothing: a global model's member, trained jointly
    on every series' training part before the backtest asks it to fit one of them."""

    family = "network"

    def __init__(self, forecaster: Forecaster, name: str) -> None:
        self.forecaster = forecaster
        self.name = name
        self.horizon = forecaster.horizon

    def fit(self, frame: pd.DataFrame, y: pd.Series) -> None:
        return None

    def predict_at(self, frame: pd.DataFrame, y: pd.Series, origins) -> np.ndarray:
        return self.forecaster.predict_at(frame, y, origins)


def global_label(cell_config: CellConfig) -> str:
    return f"{cell_config.id}@global"


def global_candidates(
    prepared: Mapping[str, PreparedSeries],
    target: str,
    cell_config: CellConfig,
    cells: Mapping[str, Cell],
    config: Config,
    registry: ModelRegistry,
    spec: FoldSpec,
    now: pd.Timestamp,
    mode: str = "auto",
) -> dict[str, tuple[Candidate, ModelOutcome]]:
    """One network for the cell, trained on every series' part before its first origin, then
    backtested and forecast per series. Keyed by series id."""
    if spec.refit:
        raise ConfigError(
            "global models are fitted once per run; set backtest.refit = false or "
            "model.scope = 'series'"
        )
    parts = {}
    for series, item in prepared.items():
        y = item.values(target)
        fold = walk_forward(len(y), spec)[0]
        window = slice(fold.train_start, fold.train_end)
        parts[series] = (item.frame.iloc[window], y.iloc[window])
    timeframe = next(iter(prepared.values())).key.timeframe
    obtained = obtain_global(
        parts=parts,
        timeframe=timeframe,
        cell_config=cell_config,
        cells=cells,
        config=config.for_target(target),
        registry=registry,
        now=now,
        mode=mode,
    )
    name = global_label(cell_config)
    report = obtained.network.report
    backtests = BacktestStore(registry.engine) if config.backtest.store_forecasts else None
    out = {}
    for series, item in prepared.items():
        member: Forecaster = obtained.network.member(series)
        if backtests is not None:  # one batched call per series, stored for the next runs
            stored = StoredForecasts(member, obtained.record.model_id, series, backtests)
            y = item.values(target)
            stored.prime(item.frame, y, span_origins(len(y), spec))
            member = stored
        candidate, _ = run_candidate(name, lambda m=member: Prefitted(m, name), item, target, spec)
        out[series] = (
            candidate,
            ModelOutcome(
                model=name,
                family="network",
                trained=obtained.trained,
                fit_seconds=report.seconds if obtained.trained and report else 0.0,
                epochs=report.epochs if obtained.trained and report else None,
                version=obtained.record.model_id,
                note=obtained.note,
            ),
        )
    return out
