"""The `breach` detector: closes outside the interval of the forecast published for them."""

from __future__ import annotations

from candlecast.core.anomalies.breach import BreachDetector
from candlecast.plugins import hookimpl
from candlecast.plugins.hookspecs import Register


@hookimpl
def register_detectors(register: Register) -> None:
    register(BreachDetector())
