"""Prefect flows and tasks: thin orchestration of `core/pipeline/`'s stages; no business logic."""
