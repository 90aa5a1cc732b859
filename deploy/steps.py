"""Prefect deployment steps for prefect.yaml, run by the worker's flow-run process before the
flow loads, on the machine that runs it.

    pull:
      - candlecast.deploy.steps.enter_checkout:
          variable: CANDLECAST_DIR

A `{{ $CANDLECAST_DIR }}` template would be resolved by `prefect deploy` on the machine that
deploys (and, left unset there, by the worker as an empty path: the pull step "succeeded" and
the run crashed in a temporary folder). This step reads the variable when the run starts, on
the worker, and fails at once with what to set.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import NoReturn
from uuid import UUID

from candlecast.core.errors import ConfigError

CHECKOUT_ENV = "CANDLECAST_DIR"
ENTRYPOINT_FILE = "flows/forecast.py"  # prefect.yaml's entrypoint, relative to the checkout


def enter_checkout(variable: str = CHECKOUT_ENV) -> dict[str, str]:
    """Make the candlecast checkout named by the environment variable `variable` the run's
    working directory; returns `{"directory": <its absolute path>}` (as Prefect's
    set_working_directory does)."""
    value = os.environ.get(variable, "").strip()
    if not value:
        _fail(
            f"{variable} is not set on this worker: set it in the environment of `prefect worker "
            f"start` to the folder of the candlecast checkout (the one holding {ENTRYPOINT_FILE}), "
            f"e.g. `export {variable}=/srv/candlecast`"
        )
    folder = Path(value).expanduser()
    if not (folder / ENTRYPOINT_FILE).is_file():
        _fail(
            f"{variable}={value} does not hold {ENTRYPOINT_FILE}, the deployments' entrypoint: "
            f"set {variable} on this worker to the folder of the candlecast checkout"
        )
    os.chdir(folder)
    return {"directory": str(folder.resolve())}


def _fail(message: str) -> NoReturn:
    """Stop the run with `message`, written to the run's own log too: Prefect prints a pull
    step's exception on the worker's terminal only, and the run's log (the Prefect UI's) would
    say no more than that its process exited with status 1."""
    run_id = os.environ.get("PREFECT__FLOW_RUN_ID")
    if run_id:
        try:
            from prefect.client.orchestration import get_client
            from prefect.logging.loggers import flow_run_logger

            with get_client(sync_client=True) as client:
                flow_run = client.read_flow_run(UUID(run_id))
            flow_run_logger(flow_run).error(message)
        except Exception:  # the log is a courtesy; the error below stops the run regardless
            pass
    raise ConfigError(message)


__all__ = ["CHECKOUT_ENV", "enter_checkout"]
