"""Anomaly flags: detectors score candles against the series' own history, flags merge into
events. See `detector.py` for the contract a (plugin) detector meets."""

from candlecast.core.anomalies.calibration import Threshold, calibrate
from candlecast.core.anomalies.detector import (
    DEFAULT_TARGET_FPR,
    DetectionContext,
    Detector,
    judged_through,
    run_detectors,
)
from candlecast.core.anomalies.events import continue_kinds, merge_events
from candlecast.core.anomalies.flag import SEVERITIES, AnomalyEvent, Flag, Severity

__all__ = [
    "DEFAULT_TARGET_FPR",
    "SEVERITIES",
    "AnomalyEvent",
    "DetectionContext",
    "Detector",
    "Flag",
    "Severity",
    "Threshold",
    "calibrate",
    "continue_kinds",
    "judged_through",
    "merge_events",
    "run_detectors",
]
