"""The domain: plain functions over plain data, with `pipeline/` on top; no Prefect, pluggy or ccxt."""
