"""Prefect deployments of the forecast flow: schedules, concurrency, serving; points at flows only."""
