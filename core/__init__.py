"""The domain layer: plain functions over plain data. Imports no Prefect and no plugin manager."""
