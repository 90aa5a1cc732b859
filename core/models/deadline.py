"""A training's deadline: the time by which the task that trains must give up.

`orchestration.train_timeout_s` bounds a training task. The flow sets the deadline when the
task starts (`training_deadline`); `training.fit` checks it before it starts and after every
batch, and stops the training cleanly past it with a `TimeoutError`. A clean stop matters: an
exception thrown into the training thread from outside (Prefect's own task timeout) lands at
any bytecode, inside TensorFlow's tracing as well, and leaves process-wide state broken for the
trainings that follow (seen as `SystemError: Objects/listobject.c` and "Operation ... has no
attr" in other cells of the same run). Prefect's timeout stays only as the backstop for a
training that stops returning to Python at all (`backstop_seconds`).

A context variable: each task thread (and each Dask worker thread) sees its own deadline.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass

# The backstop's margin past the deadline: the longest a training may spend between two
# checks (tracing a step graph, one batch) before it is stopped from outside.
BACKSTOP_MARGIN_S = 30.0


@dataclass(frozen=True)
class Deadline:
    at: float  # time.monotonic()
    seconds: float

    def passed(self) -> bool:
        return time.monotonic() >= self.at

    def expired(self, where: str) -> TimeoutError:
        """The error of a training stopped by this deadline, saying `where` it was noticed."""
        return TimeoutError(f"the {self.seconds:g} s limit passed {where}")

    def check(self, where: str) -> None:
        """Raise `expired(where)` when the deadline has passed."""
        if self.passed():
            raise self.expired(where)


_DEADLINE: ContextVar[Deadline | None] = ContextVar("candlecast_training_deadline", default=None)


@contextlib.contextmanager
def training_deadline(seconds: float | None) -> Iterator[None]:
    """Trainings inside the block stop `seconds` from now (no limit with None)."""
    deadline = None if seconds is None else Deadline(time.monotonic() + seconds, seconds)
    token = _DEADLINE.set(deadline)
    try:
        yield
    finally:
        _DEADLINE.reset(token)


def current_deadline() -> Deadline | None:
    """The deadline of the training this thread runs, if its task set one."""
    return _DEADLINE.get()


def backstop_seconds(seconds: float | None) -> float | None:
    """The task timeout to give Prefect for a training limited to `seconds`: late enough that
    the training's own clean stop comes first."""
    return None if seconds is None else seconds + BACKSTOP_MARGIN_S
