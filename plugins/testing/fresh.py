"""The contract kit's last check: load the saved models in a fresh Python process, the way a
forecast-only run loads a registered model, and forecast with them.

A forecast-only run starts a new process, loads the plugins through their entry points and
loads the saved model before it builds anything: a cell that registers its Keras class inside
`build()` passes a reload in the process that built it, and is refused in safe mode in
production (and retrained on every run). So the kit saves, then runs

    python -m candlecast.plugins.testing.fresh JOB.json

which loads the plugins as a run does (`get_host()`), loads each saved model with
`NetworkForecaster.load` and writes its forecasts for the kit to compare. The fresh process
sees the distributions the kit's process sees (its import path is passed on). A cell that is
not installed as a plugin (a cell defined in a test module) is found by importing the module
that defines its class, as the plugin's module would be imported; one defined where no process can
import it (a notebook, a module made at run time) is not checked this way, and the report says
so.
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from candlecast.plugins.testing.errors import CellContractError

FRESH_HINT = (
    "define and register the layer class (keras.saving.register_keras_serializable("
    "package=...)) when the plugin module is imported, never inside build(): a forecast-only "
    "run loads its saved model before it builds anything"
)


@dataclass(frozen=True)
class FreshLoad:
    """What the fresh process found: how it reached the cell, and per head the largest
    relative difference from the forecasts made before saving (empty when not checked)."""

    via: str
    diffs: dict[str, float]


def load_in_fresh_process(
    cell: Any,
    saved: dict[str, tuple[Path, np.ndarray]],
    *,
    candles: int,
    origins: list[int],
    tolerance: float,
    workdir: Path,
    timeout: float,
) -> FreshLoad:
    """Load every saved model (head -> (path, its forecast before saving)) in a new process
    and compare; a CellContractError names the head and what broke."""
    name = cell.name
    job = workdir / f"{name}_fresh_job.json"
    out = workdir / f"{name}_fresh_result.json"
    job.write_text(
        json.dumps(
            {
                "cell": name,
                "module": type(cell).__module__,
                "sys_path": [p for p in sys.path if p],
                "models": {head: str(path) for head, (path, _) in saved.items()},
                "candles": candles,
                "origins": origins,
                "out": str(out),
            }
        ),
        encoding="utf-8",
    )
    command = [sys.executable, "-m", "candlecast.plugins.testing.fresh", str(job)]
    env = os.environ | {"TF_CPP_MIN_LOG_LEVEL": os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2")}
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        raise CellContractError(
            f"cell {name!r}: loading the saved models in a fresh process took longer than "
            f"{timeout:g} s (ContractSettings.fresh_timeout)"
        ) from None
    if done.returncode != 0 or not out.is_file():
        lines = [line for line in (done.stderr or done.stdout).splitlines() if line.strip()]
        raise CellContractError(
            f"cell {name!r}: the fresh process that loads the saved models failed: "
            f"{lines[-1] if lines else f'exit status {done.returncode}'}"
        )
    result = json.loads(out.read_text(encoding="utf-8"))
    if "skipped" in result:
        return FreshLoad(result["skipped"], {})
    diffs = {}
    for head, found in result["heads"].items():
        where = f"cell {name!r} with head {head}"
        if "error" in found:
            raise CellContractError(
                f"{where}: the saved model does not load in a fresh process, as a "
                f"forecast-only run loads it ({result['via']}, build() not called): "
                f"{found['error']}; {FRESH_HINT}"
            )
        expected = saved[head][1]
        forecast = np.asarray(found["forecast"], dtype="float64")
        diff = float(np.max(np.abs(forecast - expected) / np.maximum(np.abs(expected), 1.0)))
        if forecast.shape != expected.shape or diff > tolerance:
            raise CellContractError(
                f"{where}: the model loaded in a fresh process forecasts differently (largest "
                f"relative difference {diff:.2e} > {tolerance:g}): some weights or settings "
                "are not saved, or the layer's class differs when its module is imported anew"
            )
        diffs[head] = diff
    return FreshLoad(result["via"], diffs)


# ---- the fresh process --------------------------------------------------------------------------
def _reach(name: str, module: str, sys_path: list[str]) -> str | dict[str, str]:
    """Load the plugins as a run does; return how the cell was reached, or why not. The
    kit's own import path is added first, so that this process sees the distributions (and
    their entry points) the kit's process sees."""
    sys.path.extend(p for p in sys_path if p not in sys.path)
    from candlecast.plugins.manager import get_host

    registration = get_host().registry()["cells"].get(name)
    if registration is not None:
        return registration.origin
    try:
        importlib.import_module(module)
    except Exception as exc:
        return {
            "skipped": f"not checked in a fresh process: cell {name!r} is not installed as a "
            f"plugin and its module {module!r} cannot be imported there ({type(exc).__name__})"
        }
    return f"module {module} (not installed as a plugin)"


def main(job_path: str) -> None:
    job = json.loads(Path(job_path).read_text(encoding="utf-8"))
    out = Path(job["out"])
    via = _reach(job["cell"], job["module"], job["sys_path"])
    if isinstance(via, dict):
        out.write_text(json.dumps(via), encoding="utf-8")
        return
    from candlecast.core.models.network import NetworkForecaster
    from candlecast.core.models.targets import target_series
    from candlecast.plugins.manager import get_host
    from candlecast.plugins.testing.saving import first_line, why_unloadable
    from candlecast.plugins.testing.series import contract_candles

    cells = get_host().get("cells")
    frame = contract_candles(job["candles"])
    y = target_series(frame, "close")
    heads: dict[str, dict[str, Any]] = {}
    for head, path in job["models"].items():
        try:
            network = NetworkForecaster.load(Path(path), cells)
            heads[head] = {"forecast": network.predict_at(frame, y, job["origins"]).tolist()}
        except Exception as exc:
            heads[head] = {"error": why_unloadable(Path(path)) or first_line(exc)}
    out.write_text(json.dumps({"via": via, "heads": heads}), encoding="utf-8")


if __name__ == "__main__":  # pragma: no cover  (run by load_in_fresh_process)
    main(sys.argv[1])
