"""A loopback exchange that speaks Binance's spot REST API, so real ccxt can be tested offline.

    with SandboxExchange(candles, hold_back=5) as sandbox:
        exchange = make_exchange("binance", url=sandbox.url)
        ...
        sandbox.release(5)           # five more candles close
        sandbox.inject("rate_limit", times=2, retry_after=1)

`serve(csv=...)` runs one in the foreground (`candlecast sandbox-exchange --csv FILE`).
"""

from candlecast.core.sandbox.faults import FAULT_KINDS, Fault, parse_fault
from candlecast.core.sandbox.generated import generate_candles
from candlecast.core.sandbox.market import SandboxMarket
from candlecast.core.sandbox.server import DEFAULT_PORT, SandboxExchange, loopback_host, serve

__all__ = [
    "DEFAULT_PORT",
    "FAULT_KINDS",
    "Fault",
    "SandboxExchange",
    "SandboxMarket",
    "generate_candles",
    "loopback_host",
    "parse_fault",
    "serve",
]
