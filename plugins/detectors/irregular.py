"""The `irregular` detector: spikes, level shifts and variance bursts in the irregular part of the price."""

from __future__ import annotations

from candlecast.core.anomalies.irregular import IrregularDetector
from candlecast.plugins import hookimpl
from candlecast.plugins.hookspecs import Register


@hookimpl
def register_detectors(register: Register) -> None:
    register(IrregularDetector())
