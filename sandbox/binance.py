"""Binance spot REST wire format: the JSON bodies real ccxt reads for public market data."""

from __future__ import annotations

from typing import Any

from candlecast.sandbox.market import Kline, SandboxMarket

# Binance's kline intervals (what /api/v3/klines accepts).
INTERVALS = (
    "1s",
    "1m",
    "3m",
    "5m",
    "15m",
    "30m",
    "1h",
    "2h",
    "4h",
    "6h",
    "8h",
    "12h",
    "1d",
    "3d",
    "1w",
    "1M",
)

RATE_LIMITS = [
    {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 6000},
    {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 100},
    {"rateLimitType": "RAW_REQUESTS", "interval": "MINUTE", "intervalNum": 5, "limit": 61000},
]


def error(code: int, msg: str) -> dict[str, Any]:
    """Binance's error body: `{"code": -1121, "msg": "Invalid symbol."}`."""
    return {"code": code, "msg": msg}


def number(value: float) -> str:
    """Binance sends numbers as strings; repr round-trips a float exactly."""
    return repr(float(value))


def kline_row(kline: Kline, tf_ms: int) -> list[Any]:
    """`[openTime, "o", "h", "l", "c", "v", closeTime, "quoteVolume", trades, "takerBase",
    "takerQuote", "0"]`."""
    quote_volume = kline.volume * (kline.open + kline.close) / 2
    return [
        kline.open_ms,
        number(kline.open),
        number(kline.high),
        number(kline.low),
        number(kline.close),
        number(kline.volume),
        kline.open_ms + tf_ms - 1,
        number(quote_volume),
        int(kline.volume * 10),
        number(kline.volume / 2),
        number(quote_volume / 2),
        "0",
    ]


def _symbol_info(market_id: str, base: str, quote: str) -> dict[str, Any]:
    return {
        "symbol": market_id,
        "status": "TRADING",
        "baseAsset": base,
        "baseAssetPrecision": 8,
        "quoteAsset": quote,
        "quotePrecision": 8,
        "quoteAssetPrecision": 8,
        "baseCommissionPrecision": 8,
        "quoteCommissionPrecision": 8,
        "orderTypes": ["LIMIT", "LIMIT_MAKER", "MARKET", "STOP_LOSS_LIMIT", "TAKE_PROFIT_LIMIT"],
        "icebergAllowed": True,
        "ocoAllowed": True,
        "otoAllowed": True,
        "quoteOrderQtyMarketAllowed": True,
        "allowTrailingStop": True,
        "cancelReplaceAllowed": True,
        "isSpotTradingAllowed": True,
        "isMarginTradingAllowed": False,
        "filters": [
            {
                "filterType": "PRICE_FILTER",
                "minPrice": "0.01000000",
                "maxPrice": "1000000.00000000",
                "tickSize": "0.01000000",
            },
            {
                "filterType": "LOT_SIZE",
                "minQty": "0.00001000",
                "maxQty": "9000.00000000",
                "stepSize": "0.00001000",
            },
            {
                "filterType": "NOTIONAL",
                "minNotional": "5.00000000",
                "applyMinToMarket": True,
                "maxNotional": "9000000.00000000",
                "applyMaxToMarket": False,
                "avgPriceMins": 5,
            },
        ],
        "permissions": [],
        "permissionSets": [["SPOT"]],
        "defaultSelfTradePreventionMode": "EXPIRE_MAKER",
        "allowedSelfTradePreventionModes": ["EXPIRE_TAKER", "EXPIRE_MAKER", "EXPIRE_BOTH"],
    }


def exchange_info(market: SandboxMarket, symbols: list[str] | None = None) -> dict[str, Any]:
    """`/api/v3/exchangeInfo`: every sandbox symbol, or those Binance ids asked for."""
    infos = [
        _symbol_info(s.market_id, s.base, s.quote)
        for s in market.series_info()
        if symbols is None or s.market_id in symbols
    ]
    return {
        "timezone": "UTC",
        "serverTime": market.now_ms(),
        "rateLimits": RATE_LIMITS,
        "exchangeFilters": [],
        "symbols": infos,
    }
