"""A real Prefect API server on loopback, shared by the deployment tests of this package."""

from __future__ import annotations

import os

import pytest


@pytest.fixture(scope="package")
def prefect_api():
    """A real Prefect API server on loopback (prefect_test_harness); yields its URL."""
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    from prefect.settings import PREFECT_API_URL
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield PREFECT_API_URL.value()
