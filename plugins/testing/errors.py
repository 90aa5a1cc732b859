"""The error the cell contract kit raises (kept apart so that importing it is cheap)."""

from __future__ import annotations

from candlecast.core.errors import PluginError


class CellContractError(PluginError):
    """A cell plugin breaks the cell contract; the message says what broke and for which head."""
