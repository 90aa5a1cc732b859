"""The task runner from `orchestration`: threads by default, Dask (prefect-dask LocalCluster of
worker processes) on request, with the same forecasts; TensorFlow's threads per training; a
training that runs too long fails its (series, cell) only, and says so."""

from __future__ import annotations

import pandas as pd
import pytest
import sqlalchemy as sa

from candlecast.core.config import build_config
from candlecast.core.errors import CandlecastError
from candlecast.core.storage.registry import models
from candlecast.core.storage.runs import forecast_intervals, forecasts
from candlecast.flows import progress
from candlecast.flows.forecast import forecast_flow, run_forecast
from candlecast.flows.runner import build_task_runner
from candlecast.flows.runtime import open_store
from tests.fixtures.models import tiny_config
from tests.fixtures.series import make_candles

SYMBOLS = ["AAA/USDT", "BBB/USDT"]


def _two_series(tmp_path) -> str:
    """Two CSV series (different seeds) behind one `{symbol}` path."""
    for seed, symbol in enumerate(SYMBOLS):
        frame = make_candles(600, seed=seed).drop(columns="synthetic")
        frame.index = frame.index.tz_convert(None)
        frame.to_csv(tmp_path / f"{symbol.replace('/', '-')}.csv", index_label="timestamp")
    return str(tmp_path / "{symbol}.csv")


def _config(tmp_path, **sections):
    data = {
        "source": {"name": "csv", "path": _two_series(tmp_path), "symbols": SYMBOLS},
        "storage": {"data_home": str(tmp_path / "home")},
        "publish": {"formats": ["csv"]},
    }
    data["source"]["history_days"] = 60
    for section, values in sections.items():
        data.setdefault(section, {}).update(values)
    return tiny_config(**data)


def _table(config, table) -> pd.DataFrame:
    engine = open_store(config.storage.resolved_database_url).engine
    with engine.connect() as conn:
        frame = pd.DataFrame(conn.execute(sa.select(table)).mappings().all())
    keys = [c for c in ("series", "model", "issued_at", "step", "level") if c in frame]
    return frame.sort_values(keys).reset_index(drop=True)


def _count(config, table) -> int:
    engine = open_store(config.storage.resolved_database_url).engine
    with engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(table)).scalar()


class _Stages:
    """Progress events this process sees (tasks in Dask workers emit theirs elsewhere)."""

    def __init__(self) -> None:
        self.events: list[tuple[str, str]] = []

    def __call__(self, series: str, stage: str, detail: str) -> None:
        self.events.append((series, stage))

    def trainings(self) -> int:
        """(series, target/cell) pairs that reported a stage here."""
        cells = ("simple", "lstm", "gru", "bidirectional")
        return len({(s, stage) for s, stage in self.events if stage.rpartition("/")[2] in cells})


# -- configuration --------------------------------------------------------------------------


def test_task_runner_and_threads_follow_the_orchestration_section():
    from prefect.settings import PREFECT_API_URL, temporary_settings
    from prefect.task_runners import ThreadPoolTaskRunner
    from prefect_dask import DaskTaskRunner

    from candlecast.core.config import available_cores

    default = build_config({})
    assert build_task_runner(default) == ThreadPoolTaskRunner(max_workers=available_cores())
    four = build_config({"orchestration": {"max_workers": 4}})
    assert build_task_runner(four) == ThreadPoolTaskRunner(max_workers=4)

    local = build_config({"orchestration": {"task_runner": "dask", "dask_workers": 3}})
    remote = build_config(
        {
            "orchestration": {"task_runner": "dask", "dask_address": "tcp://10.1.2.3:8786"},
            "storage": {"database_url": "postgresql+psycopg2://candle@db.internal/candles"},
        }
    )
    with temporary_settings({PREFECT_API_URL: "http://127.0.0.1:4200/api"}):
        runner = build_task_runner(local)
        assert isinstance(runner, DaskTaskRunner) and runner.address is None
        assert runner.cluster_kwargs["n_workers"] == 3
        assert runner.cluster_kwargs["threads_per_worker"] == 1
        assert runner.cluster_kwargs["processes"] is True
        assert build_task_runner(remote).address == "tcp://10.1.2.3:8786"
    with (
        temporary_settings({PREFECT_API_URL: None}),
        pytest.raises(CandlecastError, match="needs a Prefect API"),
    ):
        build_task_runner(local)

    # TensorFlow threads per training: the cores shared out over the trainings at once
    assert default.orchestration.resolved_tf_threads(cores=8) == 8  # threads: one at a time
    assert local.orchestration.resolved_tf_threads(cores=8) == 2  # 3 worker processes
    assert local.orchestration.resolved_tf_threads(cores=2) == 1
    assert remote.orchestration.resolved_tf_threads(cores=8) == 1  # unknown cluster
    fixed = build_config({"orchestration": {"task_runner": "dask", "tf_threads": 3}})
    assert fixed.orchestration.resolved_tf_threads(cores=8) == 3

    from candlecast.flows.runner import size_tensorflow

    legacy = build_config({"training": {"threads": 5}})
    assert size_tensorflow(legacy) == 5  # training.threads where tf_threads is unset


def test_orchestration_errors_name_the_field():
    from candlecast.core.errors import ConfigError

    with pytest.raises(ConfigError, match=r"`orchestration.task_runner` = 'ray'"):
        build_config({"orchestration": {"task_runner": "ray"}})
    with pytest.raises(ConfigError, match=r"not a Dask scheduler address"):
        build_config({"orchestration": {"dask_address": "10.1.2.3:8786"}})
    with pytest.raises(ConfigError, match=r"exclude each other"):
        build_config({"orchestration": {"dask_address": "tcp://h:1", "dask_workers": 2}})
    with pytest.raises(ConfigError, match=r"`orchestration.train_timeout_s` = 0"):
        build_config({"orchestration": {"train_timeout_s": 0}})


def test_sqlite_with_a_cluster_on_other_machines_is_refused_and_says_why(tmp_path):
    """The workers' tasks write the database; an SQLite file is on one machine's disk. Refused
    before anything starts (even before the Prefect API is looked for), naming the fix."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from candlecast.core.errors import ConfigError

    cluster = {"task_runner": "dask", "dask_address": "tcp://10.1.2.3:8786"}
    default = build_config({"orchestration": cluster, "storage": {"data_home": str(tmp_path)}})
    explicit = build_config(
        {"orchestration": cluster, "storage": {"database_url": "sqlite:////srv/c.db"}}
    )
    with temporary_settings({PREFECT_API_URL: None}):
        with pytest.raises(ConfigError) as refused:
            build_task_runner(default)
        with pytest.raises(ConfigError, match=r"database is sqlite:////srv/c.db"):
            build_task_runner(explicit)
    message = str(refused.value)
    assert "tcp://10.1.2.3:8786" in message and f"SQLite file in {tmp_path}" in message
    assert "one machine's disk" in message and "PostgreSQL" in message
    assert "CANDLECAST_DATABASE_URL" in message

    postgres = {"database_url": "postgresql+psycopg2://candle@db/candles"}
    secret = {"database_url": "secret:candlecast-db"}  # checked once the flow resolved it
    local_cluster = build_config({"orchestration": {"task_runner": "dask", "dask_workers": 2}})
    with temporary_settings({PREFECT_API_URL: "http://127.0.0.1:4200/api"}):
        for storage in (postgres, secret):
            config = build_config({"orchestration": cluster, "storage": storage})
            assert build_task_runner(config).address == "tcp://10.1.2.3:8786"
        assert build_task_runner(local_cluster).address is None  # one machine: SQLite is fine
        # a scheduler on a loopback address (candlecast serve's warm workers): one machine too
        for here in ("tcp://127.0.0.1:41234", "tcp://localhost:8786", "tcp://[::1]:8786"):
            served = build_config({"orchestration": {"task_runner": "dask", "dask_address": here}})
            assert served.cluster_storage_problem() is None


# -- flows ----------------------------------------------------------------------------------


@pytest.mark.slow
def test_dask_local_cluster_gives_the_forecasts_threads_give(prefect_harness, tmp_path):
    """Training on a LocalCluster of two worker processes, then forecast-only runs with threads
    and with Dask over the same registered models: every model's forecasts and intervals agree
    to 1e-6, and no model is retrained."""
    threads = _config(tmp_path)
    dask = threads.model_copy(deep=True)
    dask.orchestration.task_runner = "dask"
    dask.orchestration.dask_workers = 2

    seen = _Stages()
    progress.set_listener(seen)
    try:
        trained = run_forecast(dask, "train")
        assert trained["status"] == "ok", trained
        assert _count(dask, models) == 8  # four cells on two series, trained in the workers
        assert seen.trainings() == 0  # ... not in this process
        after_training = _table(dask, forecasts)

        again = run_forecast(threads, "forecast")
        assert again["status"] == "ok", again
        assert seen.trainings() == 8  # threads: the networks ran here
        by_threads = _table(threads, forecasts)
        intervals_threads = _table(threads, forecast_intervals)

        seen.events.clear()
        # as a deployment runs it: the decorator's runner, then the configured one (a subflow)
        by_dask = forecast_flow(config=dask, mode="forecast")
        assert by_dask["status"] == "ok", by_dask
        assert seen.trainings() == 0
    finally:
        progress.set_listener(None)
    assert _count(dask, models) == 8  # nothing was retrained

    by_dask_rows = _table(dask, forecasts)
    assert set(by_dask_rows["run_id"]) == {by_dask["run_id"]}  # the Dask run wrote them
    assert set(by_threads["run_id"]) == {again["run_id"]}
    # two series; 4 cells, 2 baselines and the combination; horizon 4
    assert len(by_threads) == 2 * 7 * 4
    for frame in (after_training, by_dask_rows):
        assert list(frame["model"]) == list(by_threads["model"])
        assert (frame["value"] - by_threads["value"]).abs().max() < 1e-6
    intervals_dask = _table(dask, forecast_intervals)
    for column in ("lower", "upper"):
        assert (intervals_dask[column] - intervals_threads[column]).abs().max() < 1e-6


@pytest.mark.slow
def test_a_training_timeout_fails_only_that_cell_and_is_reported(prefect_harness, tmp_path):
    config = _config(
        tmp_path,
        training={"epochs": 2000, "patience": 2000},
        orchestration={"train_timeout_s": 2},
        anomalies={"enabled": False},
    )
    summary = run_forecast(config, "train")
    assert summary["status"] == "partial"  # the baselines still forecast every series
    for symbol in SYMBOLS:
        series = summary["series"][f"csv:{symbol}:1h"]
        assert series["error"] is None
        close = series["targets"]["close"]
        assert close["champion"] in ("naive", "seasonal_naive", "combination")
        failures = close["model_failures"]
        for cell in ("simple", "lstm", "gru", "bidirectional"):
            assert f"{cell}: timed out" in failures
        assert "orchestration.train_timeout_s" in failures
        assert any(f"{symbol}:1h close simple: failed: timed out" in p for p in summary["problems"])
    assert _count(config, models) == 0
