"""The loopback exchange for offline runs and tests (not the domain): Binance's public spot
REST API served on loopback, so real ccxt can be tested offline.

    with SandboxExchange(candles, hold_back=5) as sandbox:
        exchange = make_exchange("binance", url=sandbox.url)   # plugins.sources.ccxt.exchange
        ...
        sandbox.release(5)           # five more candles close
        sandbox.inject("rate_limit", times=2, retry_after=1)

`serve(csv=...)` runs one in the foreground (`candlecast sandbox-exchange --csv FILE`).
"""

from candlecast.sandbox.faults import FAULT_KINDS, Fault, parse_fault
from candlecast.sandbox.generated import generate_candles
from candlecast.sandbox.market import SandboxMarket
from candlecast.sandbox.server import DEFAULT_PORT, SandboxExchange, loopback_host, serve

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
