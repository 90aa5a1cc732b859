"""Errors a user can act on. Each message names the input, the value and what is allowed."""

from __future__ import annotations


class CandlecastError(Exception):
    """Base for every error candlecast raises on purpose (the CLI prints these without traceback)."""


class ConfigError(CandlecastError):
    """A configuration value is missing, unknown or out of range."""


class DataError(CandlecastError):
    """Candles are unusable: wrong columns, too short, not sorted, bad values."""


class PluginError(CandlecastError):
    """A plugin is unknown, duplicated, broken or blocked."""


class SourceError(CandlecastError):
    """A candle source (exchange, file) failed in a way retries did not fix.

    `rate_limited` is True when the exchange answered but kept asking to slow down (HTTP 429):
    it is reachable, so working offline is no remedy; running again later is.
    """

    rate_limited: bool = False


class StorageError(CandlecastError):
    """The database or the artifact directory could not be used."""


class ModelError(CandlecastError):
    """A model could not be built, trained, saved or loaded."""
