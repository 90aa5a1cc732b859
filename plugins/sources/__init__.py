"""Built-in candle sources: ccxt (an exchange) and csv (a file)."""
