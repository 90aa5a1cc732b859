"""Numbers as an analyst reads them: prices with thousands separators and the decimals their
size needs (never `3.685e+04`), metrics as rounded numbers (tables that sort), a dash for what
is missing."""

from __future__ import annotations

import math
from typing import Any

MISSING = "–"
PRICE_DIGITS = 6  # significant digits a price keeps, and at least two decimals


def finite(value: Any) -> float | None:
    """`value` as a finite float, or None (missing, NaN, infinite, not a number)."""
    if value is None or isinstance(value, bool | str):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def price_text(value: Any) -> str:
    """36850.37 -> `36,850.37`; 1.234567 -> `1.23457`; 0.000123456 -> `0.000123456`."""
    number = finite(value)
    if number is None:
        return MISSING
    if number == 0:
        return "0.00"
    magnitude = math.floor(math.log10(abs(number)))
    decimals = max(2, PRICE_DIGITS - 1 - magnitude)
    return f"{number:,.{decimals}f}"


def metric_value(value: Any, digits: int = 4) -> float | None:
    """A metric for a table artifact: a number rounded to `digits` significant digits (None
    when missing), so that the table shows and sorts numbers, not text."""
    number = finite(value)
    if number is None or number == 0:
        return number
    return round(number, max(0, digits - 1 - math.floor(math.log10(abs(number)))))
