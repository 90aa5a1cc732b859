"""Anomaly flags: detectors score candles against the series' own history, flags merge into
events. See `detector.py` for the contract a (plugin) detector meets."""

from candlecast.core.anomalies.breach import BreachDetector
from candlecast.core.anomalies.calibration import Threshold, calibrate
from candlecast.core.anomalies.detector import (
    DEFAULT_TARGET_FPR,
    DetectionContext,
    Detector,
    judged_through,
    run_detectors,
)
from candlecast.core.anomalies.events import merge_events
from candlecast.core.anomalies.flag import SEVERITIES, AnomalyEvent, Flag, Severity
from candlecast.core.anomalies.irregular import IrregularDetector
from candlecast.core.anomalies.volume import VolumeDetector

__all__ = [
    "DEFAULT_TARGET_FPR",
    "SEVERITIES",
    "AnomalyEvent",
    "BreachDetector",
    "DetectionContext",
    "Detector",
    "Flag",
    "IrregularDetector",
    "Severity",
    "Threshold",
    "VolumeDetector",
    "calibrate",
    "judged_through",
    "merge_events",
    "run_detectors",
]
