"""Deployments: built from the configuration, registered with a real Prefect server (the test
harness runs one on loopback), triggered through the API and executed by `candlecast serve` in
a subprocess; a deployment never overlaps itself; prefect.yaml declares the same deployments."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import sqlalchemy as sa
import yaml

from candlecast.core.config import Config, build_config
from candlecast.core.errors import ConfigError
from candlecast.deploy.deployments import (
    FLOW_NAME,
    build_deployments,
    deployment_parameters,
    plan_deployments,
    universe_name,
)
from tests.fixtures.models import tiny_config

REPO = Path(__file__).resolve().parents[2]
SERVE_TIMEOUT = 480  # seconds a `candlecast serve --once` may take (one or two tiny flow runs)

# crons that are never due while a test runs, so only the runs a test triggers execute
FORECAST_CRON = "15 4 29 2 *"
RETRAIN_CRON = "45 3 29 2 *"


# -- helpers ---------------------------------------------------------------------------------


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {_toml_value(v)}" for k, v in value.items()) + " }"
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def _write_toml(path: Path, data: dict[str, dict[str, Any]]) -> Path:
    """A config dict as TOML (sections of scalars and lists; model.cells as [[model.cells]])."""
    lines = []
    for section, values in data.items():
        lines.append(f"[{section}]")
        tables = []
        for key, value in values.items():
            if isinstance(value, list) and value and isinstance(value[0], dict):
                tables.append((key, value))
            elif value is not None:
                lines.append(f"{key} = {_toml_value(value)}")
        for key, items in tables:
            for item in items:
                lines.append(f"[[{section}.{key}]]")
                lines.extend(f"{k} = {_toml_value(v)}" for k, v in item.items())
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _sections(tmp_path: Path, candles_csv: str, **extra: dict[str, Any]) -> dict[str, Any]:
    """tiny_config's sections plus a CSV source, a data home and test schedules."""
    data = tiny_config().model_dump(
        mode="json", include={"model", "training", "backtest"}, exclude_none=True
    )
    data["source"] = {"name": "csv", "path": candles_csv, "history_days": 60}
    data["storage"] = {"data_home": str(tmp_path / "home")}
    data["anomalies"] = {"enabled": False}
    data["publish"] = {"formats": ["csv"]}
    data["schedule"] = {"forecast_cron": FORECAST_CRON, "retrain_cron": RETRAIN_CRON}
    for section, values in extra.items():
        data.setdefault(section, {}).update(values)
    return data


def _serve_once(config_file: Path, api_url: str, *args: str) -> subprocess.CompletedProcess:
    """`candlecast serve --config FILE --once ...` in a subprocess (its own process group,
    killed with everything it started if it outlives SERVE_TIMEOUT)."""
    env = os.environ | {
        "PREFECT_API_URL": api_url,
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "CANDLECAST_MARKETS_CACHE": "off",
    }
    command = [sys.executable, "-m", "candlecast.cli.main", "serve", "--config", str(config_file)]
    process = subprocess.Popen(
        [*command, "--once", *args],
        env=env,
        cwd=config_file.parent,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        output, _ = process.communicate(timeout=SERVE_TIMEOUT)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.communicate()
    return subprocess.CompletedProcess(process.args, process.returncode, output, "")


def _states(client, flow_run_id) -> list[str]:
    return [s.type.value for s in client.read_flow_run_states(flow_run_id)]


def _logs(flow_run_id) -> list[tuple[str, str]]:
    """A flow run's logs as the Prefect API keeps them (what the UI shows): (level, message)."""
    import logging

    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId
    from prefect.client.schemas.sorting import LogSort

    query = LogFilter(flow_run_id=LogFilterFlowRunId(any_=[flow_run_id]))
    with get_client(sync_client=True) as client:
        logs = client.read_logs(log_filter=query, sort=LogSort.TIMESTAMP_ASC)
    return [(logging.getLevelName(log.level), log.message) for log in logs]


def _run_rows(config: Config) -> int:
    engine = sa.create_engine(config.storage.resolved_database_url)
    try:
        with engine.connect() as conn:
            return conn.execute(sa.text("select count(*) from runs")).scalar()
    finally:
        engine.dispose()


# -- plans, parameters, prefect.yaml (no server) ----------------------------------------------


def test_default_plans_follow_the_schedule_section():
    forecast, retrain = plan_deployments(Config())
    assert (forecast.kind, forecast.mode, forecast.cron) == ("forecast", "auto", "5 * * * *")
    assert (retrain.kind, retrain.mode, retrain.cron) == ("retrain", "train", "35 0 * * *")
    assert forecast.timezone == retrain.timezone == "UTC"
    assert forecast.name == "forecast-binance-1h-btcusdt"
    assert forecast.full_name == f"{FLOW_NAME}/forecast-binance-1h-btcusdt"
    assert forecast.collision_strategy.value == "CANCEL_NEW"  # late_runs "skip"

    catch_up = build_config(
        {"schedule": {"late_runs": "catch_up", "forecast_cron": "*/30 * * * *"}}
    )
    plans = plan_deployments(catch_up)
    assert [p.collision_strategy.value for p in plans] == ["ENQUEUE", "ENQUEUE"]
    assert plans[0].cron == "*/30 * * * *"


def test_universe_names_are_short_stable_and_distinct():
    two = build_config({"source": {"symbols": ["BTC/USDT", "ETH/USDT"], "timeframe": "4h"}})
    assert universe_name(two) == "binance-4h-btcusdt-ethusdt"
    many = [f"C{i}/USDT" for i in range(16)]
    name = universe_name(build_config({"source": {"symbols": many}}))
    assert name.startswith("binance-1h-16-symbols-") and len(name) < 40
    assert name == universe_name(build_config({"source": {"symbols": many[::-1]}}))
    other = universe_name(build_config({"source": {"symbols": [*many[:15], "X/USDT"]}}))
    assert other != name


def test_schedule_errors_name_the_field_and_what_is_allowed():
    with pytest.raises(ConfigError, match=r"`schedule.forecast_cron` = '61 \* \* \* \*'.*0-59"):
        build_config({"schedule": {"forecast_cron": "61 * * * *"}})
    with pytest.raises(ConfigError, match=r"has 4 field\(s\); need 5"):
        build_config({"schedule": {"retrain_cron": "0 0 * *"}})
    with pytest.raises(ConfigError, match=r"day of week 'funday'"):
        build_config({"schedule": {"retrain_cron": "0 0 * * funday"}})
    with pytest.raises(ConfigError, match=r"not an IANA time zone"):
        build_config({"schedule": {"timezone": "Mars/Olympus"}})
    with pytest.raises(ConfigError, match=r"'skip' or 'catch_up'"):
        build_config({"schedule": {"late_runs": "later"}})
    ok = build_config({"schedule": {"forecast_cron": "*/15 8-18 * jan-jun mon-fri"}})
    assert ok.schedule.forecast_cron == "*/15 8-18 * jan-jun mon-fri"
    assert build_config({"schedule": {"retrain_cron": "@daily"}}).schedule.retrain_cron == "@daily"


def test_parameters_carry_no_password_and_absolute_paths(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    config = build_config(
        {
            "storage": {"database_url": "postgresql+psycopg2://cc:s3cret@db.internal/cc"},
            "publish": {"sql_url": "postgresql+psycopg2://pub:hunter2@db.internal/out"},
        }
    )
    params = deployment_parameters(config)
    text = repr(params)
    assert "s3cret" not in text and "hunter2" not in text
    assert params["storage"]["database_url"] == "postgresql+psycopg2://cc:***@db.internal/cc"
    assert params["storage"]["data_home"] == str(tmp_path / "candlecast-data")
    assert Config.model_validate(params).schedule == config.schedule  # a valid Config again

    # the machine that runs the flow supplies the password from its environment
    from candlecast.flows.runtime import resolve_config

    monkeypatch.setenv("CANDLECAST_DATABASE_URL", "postgresql+psycopg2://cc:s3cret@db.internal/cc")
    monkeypatch.setenv("CANDLECAST_SQL_URL", "postgresql+psycopg2://pub:hunter2@db.internal/out")
    resolved = resolve_config(params, None)
    assert resolved.storage.database_url.endswith("cc:s3cret@db.internal/cc")
    monkeypatch.delenv("CANDLECAST_SQL_URL")
    with pytest.raises(Exception, match="set CANDLECAST_SQL_URL"):
        resolve_config(params, None)

    # a Prefect Secret reference travels as it is (flows/secret_refs.py resolves it at run time)
    referenced = build_config({"storage": {"database_url": "secret:candlecast-db"}})
    assert deployment_parameters(referenced)["storage"]["database_url"] == "secret:candlecast-db"


def test_late_runs_are_skipped_only_under_skip():
    from candlecast.flows.runner import late_run_reason

    now = pd.Timestamp("2026-11-27 14:40", tz="UTC")
    due = pd.Timestamp("2026-11-27 12:05", tz="UTC")
    reason = late_run_reason(Config(), due, now)
    assert reason is not None
    assert "skipped: started 0 days 02:35:00 after its scheduled time" in reason
    assert "late_after_minutes = 15" in reason
    assert late_run_reason(Config(), now - pd.Timedelta(minutes=14), now) is None  # on time
    assert late_run_reason(Config(), None, now) is None  # not a deployment run: never late
    catch_up = build_config({"schedule": {"late_runs": "catch_up"}})
    assert late_run_reason(catch_up, due, now) is None
    patient = build_config({"schedule": {"late_after_minutes": 180}})
    assert late_run_reason(patient, due, now) is None


def test_prefect_yaml_declares_the_same_deployments():
    spec = yaml.safe_load((REPO / "prefect.yaml").read_text(encoding="utf-8"))
    plans = {plan.kind: plan for plan in plan_deployments(Config())}
    declared = {item["name"]: item for item in spec["deployments"]}
    assert set(declared) == set(plans)
    for kind, plan in plans.items():
        item = declared[kind]
        assert item["entrypoint"] == "flows/forecast.py:forecast_flow"
        assert item["parameters"] == {"mode": plan.mode}  # CANDLECAST_CONFIG or candlecast.toml
        assert item["schedules"] == [{"cron": plan.cron, "timezone": plan.timezone, "active": True}]
        assert item["concurrency_limit"] == {
            "limit": 1,
            "collision_strategy": plan.collision_strategy.value,
        }
        assert item["work_pool"]["name"] == "candlecast-pool"
    # the checkout comes from the worker's CANDLECAST_DIR, read when a run starts
    assert spec["pull"] == [
        {"candlecast.deploy.steps.enter_checkout": {"variable": "CANDLECAST_DIR"}}
    ]
    assert "{{" not in yaml.safe_dump(spec["pull"])
    # the entrypoint is a file path from the repository root, naming the flow
    from prefect.flows import load_flow_from_entrypoint

    path, name = spec["deployments"][0]["entrypoint"].split(":")
    assert (REPO / path).is_file()
    flow = load_flow_from_entrypoint(f"{REPO / path}:{name}")
    assert flow.name == FLOW_NAME


# -- against a real Prefect server --------------------------------------------------------------


@pytest.mark.slow
def test_served_deployment_runs_from_the_api_and_records_forecasts(
    prefect_api, tmp_path, candles_csv
):
    from prefect.client.orchestration import get_client
    from prefect.deployments import run_deployment

    data = _sections(tmp_path, candles_csv)
    config_file = _write_toml(tmp_path / "candlecast.toml", data)
    config = build_config(data)

    # registered with their schedules: what the API reads back is what the config says
    ids = {d.name: d.apply() for d in build_deployments(config)}
    forecast_plan, retrain_plan = plan_deployments(config)
    with get_client(sync_client=True) as client:
        for plan in (forecast_plan, retrain_plan):
            deployment = client.read_deployment(ids[plan.name])
            assert [s.schedule.cron for s in deployment.schedules] == [plan.cron]
            assert deployment.schedules[0].schedule.timezone == "UTC"
            assert deployment.schedules[0].active
            assert deployment.global_concurrency_limit.limit == 1
            assert deployment.concurrency_options.collision_strategy.value == "CANCEL_NEW"
            assert deployment.parameters["mode"] == plan.mode
            assert deployment.entrypoint == "candlecast.flows.forecast.forecast_flow"

    # triggered through the API, executed by `candlecast serve --once`; with it, a retrain run
    # that was due an hour ago: under late_runs "skip" it ends at once, saying why
    run = run_deployment(forecast_plan.full_name, timeout=0)
    an_hour_ago = pd.Timestamp.now(tz="UTC") - pd.Timedelta(hours=1)
    late = run_deployment(retrain_plan.full_name, scheduled_time=an_hour_ago, timeout=0)
    served = _serve_once(config_file, prefect_api, "--limit", "2")
    assert served.returncode == 0, served.stdout[-4000:]
    with get_client(sync_client=True) as client:
        finished = client.read_flow_run(run.id)
        skipped = client.read_flow_run(late.id)
    assert finished.state.is_completed(), (finished.state, served.stdout[-4000:])
    assert finished.deployment_id == ids[forecast_plan.name]
    assert skipped.state.is_cancelled(), (skipped.state, served.stdout[-4000:])
    assert skipped.state.message.startswith("skipped: started")

    # the run's INFO logs reached the API (the Prefect UI shows them), not the terminal
    logs = {flow_run.id: _logs(flow_run.id) for flow_run in (finished, skipped)}
    messages = [message for level, message in logs[finished.id] if level == "INFO"]
    assert any(m.startswith("run ") and " 1 series, store sqlite:///" in m for m in messages)
    assert any(m.startswith("recorded {") for m in messages)
    assert "Finished in state Completed()" in messages
    assert "| INFO" not in served.stdout and "1 series, store" not in served.stdout
    # the skipped run is a clean Cancelled state: its warning, no error, no traceback
    assert [level for level, _ in logs[skipped.id]].count("WARNING") == 1
    assert all(level in ("INFO", "WARNING") for level, _ in logs[skipped.id]), logs[skipped.id]
    assert not any("Traceback" in message for _, message in logs[skipped.id])
    assert logs[skipped.id][-1] == (
        "INFO",
        f"Finished in state Cancelled({skipped.state.message!r})",
    )
    # --once says how each run ended
    assert "2 flow run(s) ended:" in served.stdout, served.stdout[-4000:]
    lines = served.stdout.splitlines()
    assert f"  {forecast_plan.name}: flow run {finished.name!r} Completed" in lines
    assert f"  {retrain_plan.name}: flow run {skipped.name!r} Cancelled: skipped: started" in [
        line[: line.index("skipped: started") + 16] for line in lines if "skipped: started" in line
    ]

    # its forecasts landed in the database
    engine = sa.create_engine(config.storage.resolved_database_url)
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text("select model, count(*) from forecasts group by model order by model")
        ).all()
        status = conn.execute(sa.text("select status from runs")).scalars().all()
    engine.dispose()
    assert status == ["ok"]  # the skipped run recorded nothing
    assert dict(rows) == {
        m: 4
        for m in (
            "bidirectional",
            "combination",
            "gru",
            "lstm",
            "naive",
            "seasonal_naive",
            "simple",
        )
    }


@pytest.mark.slow
def test_a_second_run_does_not_start_while_the_first_runs(prefect_api, tmp_path, candles_csv):
    """late_runs "skip": of two runs due at once, one runs and the other is cancelled by the
    deployment's concurrency limit without ever starting."""
    from prefect.client.orchestration import get_client
    from prefect.deployments import run_deployment

    data = _sections(tmp_path, candles_csv)
    config_file = _write_toml(tmp_path / "candlecast.toml", data)
    config = build_config(data)
    forecast = plan_deployments(config)[0]
    for deployment in build_deployments(config):
        deployment.apply()

    first = run_deployment(forecast.full_name, timeout=0)
    second = run_deployment(forecast.full_name, timeout=0)
    served = _serve_once(config_file, prefect_api, "--limit", "2")  # it tries to start both
    assert served.returncode == 0, served.stdout[-4000:]

    with get_client(sync_client=True) as client:
        runs = [client.read_flow_run(r.id) for r in (first, second)]
        histories = [_states(client, r.id) for r in runs]
    by_state = {r.state.type.value: (r, h) for r, h in zip(runs, histories, strict=True)}
    assert set(by_state) == {"COMPLETED", "CANCELLED"}, [r.state for r in runs]
    cancelled, history = by_state["CANCELLED"]
    assert "concurrency limit" in (cancelled.state.message or "").lower()
    assert "RUNNING" not in history  # it never started
    assert "RUNNING" in by_state["COMPLETED"][1]
    assert _run_rows(config) == 1  # one run recorded in the database


@pytest.mark.slow
def test_catch_up_queues_the_second_run_until_the_slot_is_free(prefect_api, tmp_path, candles_csv):
    """late_runs "catch_up" (ENQUEUE): while one run holds the deployment's slot, the next is put
    back to wait (AwaitingConcurrencySlot) and may start once the first has finished."""
    from prefect.client.orchestration import get_client
    from prefect.deployments import run_deployment
    from prefect.states import Completed, Pending, Running

    data = _sections(tmp_path, candles_csv, schedule={"late_runs": "catch_up"})
    data["schedule"]["forecast_cron"] = "16 4 29 2 *"  # distinct deployments from other tests
    config = build_config(data | {"source": {**data["source"], "symbols": ["ETH/USDT"]}})
    forecast = plan_deployments(config)[0]
    for deployment in build_deployments(config):
        deployment.apply()
    first = run_deployment(forecast.full_name, timeout=0)
    second = run_deployment(forecast.full_name, timeout=0)

    with get_client(sync_client=True) as client:
        assert client.set_flow_run_state(first.id, Pending()).state.is_pending()
        assert client.set_flow_run_state(first.id, Running()).state.is_running()
        waiting = client.set_flow_run_state(second.id, Pending())
        assert waiting.status.value == "REJECT"
        state = client.read_flow_run(second.id).state
        assert state.is_scheduled() and state.name == "AwaitingConcurrencySlot"

        client.set_flow_run_state(first.id, Completed())
        assert client.set_flow_run_state(second.id, Pending()).state.is_pending()


@pytest.mark.slow
def test_prefect_yaml_deploys_to_the_work_pool_and_a_process_worker_runs_it(
    prefect_api, tmp_path, candles_csv
):
    """`prefect deploy --all` with the repository's prefect.yaml (CANDLECAST_DIR unset where it
    deploys) registers both deployments on `candlecast-pool`. A process worker without
    CANDLECAST_DIR fails the run at once, its log naming the variable; with it, and with
    CANDLECAST_CONFIG naming a configuration outside the checkout, the worker runs it from the
    checkout."""
    from prefect.client.orchestration import get_client
    from prefect.deployments import run_deployment

    data = _sections(tmp_path, candles_csv)
    (tmp_path / "site").mkdir()
    config_file = _write_toml(tmp_path / "site" / "forecast.toml", data)  # not in the checkout
    config = build_config(data)
    prefect = [sys.executable, "-m", "prefect"]
    base = {k: v for k, v in os.environ.items() if not k.startswith("CANDLECAST_")} | {
        "PREFECT_API_URL": prefect_api,
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "CANDLECAST_MARKETS_CACHE": "off",
    }

    def cli(*args: str, env: dict[str, str], timeout: float = 240) -> subprocess.CompletedProcess:
        process = subprocess.Popen(
            [*prefect, *args],
            env=env,
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        try:
            output, _ = process.communicate(timeout=timeout)
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.communicate()
        return subprocess.CompletedProcess(process.args, process.returncode, output, "")

    created = cli("work-pool", "create", "candlecast-pool", "--type", "process", env=base)
    assert created.returncode == 0, created.stdout[-3000:]
    deployed = cli(
        "--no-prompt", "deploy", "--all", "--prefect-file", str(REPO / "prefect.yaml"), env=base
    )
    assert deployed.returncode == 0, deployed.stdout[-3000:]

    with get_client(sync_client=True) as client:
        forecast = client.read_deployment_by_name(f"{FLOW_NAME}/forecast")
        retrain = client.read_deployment_by_name(f"{FLOW_NAME}/retrain")
    assert forecast.work_pool_name == retrain.work_pool_name == "candlecast-pool"
    assert [s.schedule.cron for s in forecast.schedules] == ["5 * * * *"]
    assert [s.schedule.cron for s in retrain.schedules] == ["35 0 * * *"]
    assert forecast.global_concurrency_limit.limit == 1
    assert forecast.concurrency_options.collision_strategy.value == "CANCEL_NEW"
    assert retrain.parameters == {"mode": "train"}
    # the variable travels as a name, to be read on the worker when a run starts
    assert forecast.pull_steps == [
        {"candlecast.deploy.steps.enter_checkout": {"variable": "CANDLECAST_DIR"}}
    ]

    # a worker without CANDLECAST_DIR: the run fails before the flow loads, saying what to set
    unset = run_deployment(f"{FLOW_NAME}/forecast", timeout=0)
    worker = ("worker", "start", "--pool", "candlecast-pool", "--run-once")
    failed = cli(*worker, env=base, timeout=SERVE_TIMEOUT)
    with get_client(sync_client=True) as client:
        crashed = client.read_flow_run(unset.id)
    assert crashed.state.type.value in ("CRASHED", "FAILED"), (crashed.state, failed.stdout[-3000:])
    errors = [message for level, message in _logs(unset.id) if level == "ERROR"]
    assert any(
        "CANDLECAST_DIR is not set on this worker: set it in the environment of `prefect worker "
        "start` to the folder of the candlecast checkout" in message
        for message in errors
    ), (errors, failed.stdout[-3000:])
    assert not (tmp_path / "home").exists()  # nothing ran

    # with it, and the configuration outside the checkout
    run = run_deployment(f"{FLOW_NAME}/forecast", timeout=0)
    env = base | {"CANDLECAST_DIR": str(REPO), "CANDLECAST_CONFIG": str(config_file)}
    worked = cli(*worker, env=env, timeout=SERVE_TIMEOUT)
    assert worked.returncode == 0, worked.stdout[-4000:]
    with get_client(sync_client=True) as client:
        finished = client.read_flow_run(run.id)
    assert finished.state.is_completed(), (finished.state, worked.stdout[-4000:])
    assert _run_rows(config) == 1


@pytest.mark.slow
def test_a_scheduled_run_asks_the_exchange_once_per_series(sandbox_exchange, tmp_path):
    """Each scheduled run is a fresh process: the exchange's markets come from the disk cache
    (plugins/sources/ccxt/source.py), so an incremental fetch is one request per series; a
    symbol missing from cached markets (a new listing) reloads them once."""
    import json

    cache = tmp_path / "markets"
    env = os.environ | {"CANDLECAST_MARKETS_CACHE": str(cache)}
    fetch = [sys.executable, "-m", "candlecast.cli.main", "fetch", "--exchange-url"]
    fetch += [sandbox_exchange.url, "--data-home", str(tmp_path / "home")]

    def run(symbols: str) -> dict[str, int]:
        before = dict(sandbox_exchange.requests)
        done = subprocess.run(
            [*fetch, "--symbols", symbols], env=env, capture_output=True, text=True, timeout=300
        )
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        after = sandbox_exchange.requests
        return {
            k.rsplit("/", 1)[-1]: after[k] - before.get(k, 0)
            for k in after
            if after[k] != before.get(k, 0)
        }

    first = run("BTC/USDT,ETH/USDT")  # backfill: markets once, the clock, the pages
    assert first["exchangeInfo"] == 1 and first["klines"] >= 2
    sandbox_exchange.release(1)
    assert run("BTC/USDT,ETH/USDT") == {"klines": 2}  # one request per series, nothing else

    (path,) = cache.iterdir()
    markets = json.loads(path.read_text())
    path.write_text(json.dumps({"BTC/USDT": markets["BTC/USDT"]}))  # cached before ETH listed
    sandbox_exchange.release(1)
    assert run("ETH/USDT") == {"exchangeInfo": 1, "klines": 1}


def _wait_final(flow_run_id, seconds: float = SERVE_TIMEOUT):
    import time

    from prefect.client.orchestration import get_client

    deadline = time.monotonic() + seconds
    with get_client(sync_client=True) as client:
        while time.monotonic() < deadline:
            flow_run = client.read_flow_run(flow_run_id)
            if flow_run.state is not None and flow_run.state.is_final():
                return flow_run
            time.sleep(1.0)
    raise AssertionError(f"flow run {flow_run_id} did not end within {seconds} s")


@pytest.mark.slow
def test_served_runs_keep_their_models_warm_in_the_served_workers(
    prefect_api, tmp_path, candles_csv
):
    """`candlecast serve` (not --once): the served runs send their tasks to long-lived Dask
    workers beside it, so a forecast run after another finds the models already loaded there."""
    from distributed import Client
    from prefect.deployments import run_deployment

    data = _sections(tmp_path, candles_csv, orchestration={"dask_workers": 1})
    data["model"]["cells"] = [{"name": "gru", "units": 4}]
    config_file = _write_toml(tmp_path / "candlecast.toml", data)
    forecast_plan, retrain_plan = plan_deployments(build_config(data))
    env = os.environ | {
        "PREFECT_API_URL": prefect_api,
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "CANDLECAST_MARKETS_CACHE": "off",
    }
    command = [sys.executable, "-m", "candlecast.cli.main", "serve", "--config", str(config_file)]
    serving = subprocess.Popen(
        command,
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        import time

        from prefect.client.orchestration import get_client

        def registered_by_this_serve(client) -> bool:
            """An earlier test registered deployments of the same names: wait for this serve's
            (its configuration: this test's data home, the warm workers' address)."""
            for plan in (retrain_plan, forecast_plan):
                try:
                    deployment = client.read_deployment_by_name(plan.full_name)
                except Exception:
                    return False
                config = deployment.parameters.get("config", {})
                if config.get("storage", {}).get("data_home") != str(tmp_path / "home"):
                    return False
                if not config.get("orchestration", {}).get("dask_address"):
                    return False
            return True

        deadline = time.monotonic() + 300
        with get_client(sync_client=True) as client:  # serve registers the deployments itself
            while not registered_by_this_serve(client):
                assert time.monotonic() < deadline, "serve registered no deployment"
                assert serving.poll() is None, serving.communicate()[0][-4000:]
                time.sleep(1.0)
        trained = _wait_final(run_deployment(retrain_plan.full_name, timeout=0).id)
        assert trained.state.is_completed(), trained.state
        address = trained.parameters["config"]["orchestration"]["dask_address"]
        assert address.startswith("tcp://127.0.0.1:")  # the served workers, not a run's own

        def hits() -> int:
            with Client(address, timeout=30) as client:
                (stats,) = client.run(
                    lambda: (
                        __import__(
                            "candlecast.core.models.cache"
                        ).core.models.cache.MODELS.stats.hits
                    )
                ).values()
            return stats

        before = hits()
        first = _wait_final(run_deployment(forecast_plan.full_name, timeout=0).id)
        second = _wait_final(run_deployment(forecast_plan.full_name, timeout=0).id)
        assert first.state.is_completed() and second.state.is_completed(), (first, second)
        assert hits() > before  # the second forecast run used the models the first had loaded
    finally:
        os.killpg(serving.pid, signal.SIGINT)
        try:
            serving.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(serving.pid, signal.SIGKILL)
            serving.communicate()
