"""Stable, lowercase slugs of series ids, for HTML ids and Prefect artifact keys."""

from __future__ import annotations

import re


def series_slug(series_id: str) -> str:
    """`binance:BTC/USDT:1h` -> `binance-btc-usdt-1h`: lowercase letters, digits and dashes."""
    return re.sub(r"[^a-z0-9]+", "-", series_id.lower()).strip("-") or "series"
