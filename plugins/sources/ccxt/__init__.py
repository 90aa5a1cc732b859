"""The built-in `ccxt` source: an exchange client, paginated retried fetching, incremental sync."""
