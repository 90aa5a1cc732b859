"""Built-in anomaly detectors, one per file: irregular (spikes, level shifts, variance bursts),
volume (volume spikes) and breach (actuals outside the published forecast interval).

The detectors themselves live in `candlecast.core.anomalies`; these modules only register them
through the `register_detectors` hook.
"""
