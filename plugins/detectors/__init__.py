"""Built-in anomaly detectors, one per file: irregular (spikes, level shifts, variance bursts),
volume (volume spikes) and breach (actuals outside the published forecast interval). Each file
holds its detector and registers it through the `register_detectors` hook; the contract, the
calibration and the events they share are in `candlecast.core.anomalies`.
"""
