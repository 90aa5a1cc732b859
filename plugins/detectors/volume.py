"""The `volume` detector: volume spikes against the volume's own seasonal profile."""

from __future__ import annotations

from candlecast.core.anomalies.volume import VolumeDetector
from candlecast.plugins import hookimpl
from candlecast.plugins.hookspecs import Register


@hookimpl
def register_detectors(register: Register) -> None:
    register(VolumeDetector())
