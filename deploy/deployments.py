"""The two deployments of one configured universe (exchange, symbols, timeframe), built
explicitly from the configuration:

    forecast-<universe>   mode "auto"   on schedule.forecast_cron   (hourly by default)
    retrain-<universe>    mode "train"  on schedule.retrain_cron    (daily by default)

Both run `candlecast.flows.forecast.forecast_flow` with the configuration as a parameter, in
`schedule.timezone`, and never overlap themselves: a deployment concurrency limit of 1 whose
collision strategy follows `schedule.late_runs` ("skip": a run due while one is still running is
cancelled, CANCEL_NEW; "catch_up": it waits for the slot, ENQUEUE). A run that starts later than
`schedule.late_after_minutes` after its scheduled time is skipped by the flow itself under
"skip" (see `late_run_reason` in flows/forecast.py).

`prefect.yaml` at the repository root declares the same two deployments for a work pool;
tests/deploy checks that the two stay in step.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prefect.client.schemas.objects import ConcurrencyLimitConfig, ConcurrencyLimitStrategy
from prefect.deployments.runner import RunnerDeployment
from prefect.schedules import Cron
from prefect.types.entrypoint import EntrypointType

from candlecast.core.config import ENV_URLS, Config, shown_url
from candlecast.core.storage.location import is_url
from candlecast.flows.forecast import forecast_flow

FLOW_NAME = "candlecast-forecast"  # forecast_flow's name; deployment ids are FLOW/DEPLOYMENT
TAGS = ("candlecast",)


@dataclass(frozen=True)
class DeploymentPlan:
    """What one deployment is, before Prefect objects are made (printable, testable)."""

    kind: str  # "forecast" or "retrain"
    name: str
    mode: str
    cron: str
    timezone: str
    collision_strategy: ConcurrencyLimitStrategy
    description: str

    @property
    def full_name(self) -> str:
        """`flow/deployment`, as `run_deployment` and `prefect deployment run` take it."""
        return f"{FLOW_NAME}/{self.name}"


def universe_name(config: Config) -> str:
    """A short, stable name for the configured universe: `binance-1h-btcusdt`,
    `binance-1h-btcusdt-ethusdt`, or `binance-1h-16-symbols-3f2a9c` for longer lists."""
    source = config.source
    slugs = [re.sub(r"[^a-z0-9]+", "", s.lower()) for s in source.symbols]
    if len(slugs) <= 3:
        tail = "-".join(slugs)
    else:
        digest = hashlib.sha256("\n".join(sorted(source.symbols)).encode()).hexdigest()[:6]
        tail = f"{len(slugs)}-symbols-{digest}"
    return re.sub(r"[^a-z0-9\-]+", "-", f"{source.exchange}-{source.timeframe}-{tail}".lower())


def collision_strategy(config: Config) -> ConcurrencyLimitStrategy:
    """skip -> CANCEL_NEW (an overlapping run is cancelled); catch_up -> ENQUEUE (it waits)."""
    if config.schedule.late_runs == "skip":
        return ConcurrencyLimitStrategy.CANCEL_NEW
    return ConcurrencyLimitStrategy.ENQUEUE


def plan_deployments(config: Config) -> list[DeploymentPlan]:
    """The forecast and retrain deployments of this configuration's universe."""
    universe = universe_name(config)
    schedule = config.schedule
    strategy = collision_strategy(config)
    symbols = ", ".join(config.source.symbols)
    where = f"{config.source.exchange} {config.source.timeframe} ({symbols})"
    return [
        DeploymentPlan(
            kind="forecast",
            name=f"forecast-{universe}",
            mode="auto",
            cron=schedule.forecast_cron,
            timezone=schedule.timezone,
            collision_strategy=strategy,
            description=f"Scheduled forecast of {where}: networks retrain as "
            f"training.retrain says ({config.training.retrain}), otherwise reuse their models.",
        ),
        DeploymentPlan(
            kind="retrain",
            name=f"retrain-{universe}",
            mode="train",
            cron=schedule.retrain_cron,
            timezone=schedule.timezone,
            collision_strategy=strategy,
            description=f"Scheduled retraining of every network of {where}, then a forecast.",
        ),
    ]


def deployment_parameters(config: Config) -> dict[str, Any]:
    """The configuration as a deployment parameter (JSON): relative paths made absolute (runs
    start in another working directory), and passwords in database URLs redacted to `***` —
    the machine that runs the flow supplies them (CANDLECAST_DATABASE_URL, CANDLECAST_SQL_URL);
    a Prefect Secret reference (`secret:<block>`) is kept and resolved at run time."""
    data = config.model_dump(mode="json")
    for section, key in (
        ("source", "path"),
        ("storage", "data_home"),
        ("storage", "artifact_dir"),
        ("storage", "outputs_dir"),
        ("storage", "reports_dir"),
    ):
        value = data[section].get(key)
        if value and not is_url(value) and not Path(value).is_absolute():
            data[section][key] = str(Path(value).absolute())
    for section, key in ENV_URLS:  # a secret:<block> reference stays as it is
        data[section][key] = shown_url(data[section].get(key))
    return data


def build_deployments(config: Config, *, paused: bool = False) -> list[RunnerDeployment]:
    """The RunnerDeployments to serve (`deploy.serve.serve`) or apply, one per plan.

    The entrypoint is the module path `candlecast.flows.forecast.forecast_flow`, which works in
    any working directory where candlecast is installed."""
    parameters = deployment_parameters(config)
    deployments = []
    for plan in plan_deployments(config):
        deployments.append(
            forecast_flow.to_deployment(
                name=plan.name,
                schedule=Cron(plan.cron, timezone=plan.timezone),
                concurrency_limit=ConcurrencyLimitConfig(
                    limit=1, collision_strategy=plan.collision_strategy
                ),
                parameters={"config": parameters, "mode": plan.mode},
                description=plan.description,
                tags=[*TAGS, plan.kind],
                paused=paused,
                entrypoint_type=EntrypointType.MODULE_PATH,
            )
        )
    return deployments


__all__ = [
    "FLOW_NAME",
    "DeploymentPlan",
    "build_deployments",
    "collision_strategy",
    "deployment_parameters",
    "plan_deployments",
    "universe_name",
]
