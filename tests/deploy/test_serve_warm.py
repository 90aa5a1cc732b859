"""`candlecast serve` keeps the models warm between runs: Prefect runs each flow run in a fresh
subprocess, so the served runs send their tasks to long-lived Dask workers started beside the
serving process, where the model cache lives on from one run to the next."""

from __future__ import annotations

import pytest

from candlecast.core.config import build_config
from candlecast.deploy.serve import served_config, warm_workers


def test_served_config_sends_the_tasks_to_the_warm_cluster():
    config = build_config({"orchestration": {"task_runner": "threads"}})
    served = served_config(config, "tcp://127.0.0.1:8786")
    assert served.orchestration.task_runner == "dask"
    assert served.orchestration.dask_address == "tcp://127.0.0.1:8786"
    assert config.orchestration.task_runner == "threads"  # the given one is left as it was
    assert served.cluster_storage_problem() is None  # the default SQLite store serves as before


def test_a_configured_cluster_or_no_warm_keeps_the_configuration():
    own = build_config(
        {"orchestration": {"task_runner": "dask", "dask_address": "tcp://10.0.0.5:8786"}}
    )
    with warm_workers(own) as served:
        assert served is own
    plain = build_config({})
    with warm_workers(plain, enabled=False) as served:
        assert served is plain


@pytest.mark.slow
def test_warm_workers_live_as_long_as_serving():
    from distributed import Client

    config = build_config({"orchestration": {"dask_workers": 1}})
    with warm_workers(config) as served:
        address = served.orchestration.dask_address
        with Client(address, timeout=30) as client:
            first = client.submit(id, 0, pure=False).result()
            pids = set(client.run(lambda: __import__("os").getpid()).values())
            again = set(client.run(lambda: __import__("os").getpid()).values())
            assert first and pids == again  # the same worker process serves every run
    with pytest.raises(OSError), Client(address, timeout=2):
        pass
