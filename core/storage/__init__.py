"""Persistence: one SQLAlchemy URL for candles, runs, forecasts, flags, metrics and models."""
