"""How a run is executed and scheduled: the Prefect task runner and TensorFlow's threads
(`orchestration`), and the deployments' crons and late-run policy (`schedule`)."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator, model_validator

from candlecast.core.config.sections import Section


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
