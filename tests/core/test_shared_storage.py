"""Storage a cluster can share: model files and reports at fsspec URLs, tested on a real S3
protocol server on loopback (moto) through s3fs, the client a user's S3 or MinIO gets. Plain
paths and `file://` URLs stay local folders written as before."""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from candlecast.core.config import build_config
from candlecast.core.errors import ConfigError, ModelError
from candlecast.core.market.candles import SeriesKey
from candlecast.core.pipeline.candidates import network_candidate
from candlecast.core.pipeline.networks import load_registered
from candlecast.core.pipeline.plan import SeriesPlan
from candlecast.core.pipeline.prepare import prepare_series
from candlecast.core.report import publish_report
from candlecast.core.storage.location import Location
from candlecast.core.storage.store import Store
from tests.fixtures.models import tiny_config
from tests.fixtures.results import make_results
from tests.fixtures.series import make_candles

KEY = SeriesKey("binance", "BTC/USDT", "1h")
NOW = pd.Timestamp("2024-02-01", tz="UTC")


# -- configuration ------------------------------------------------------------------------------


def test_storage_folders_take_paths_file_urls_and_fsspec_urls(tmp_path):
    config = build_config(
        {
            "storage": {
                "data_home": str(tmp_path),
                "artifact_dir": "s3://bucket/candlecast/models/",
                "outputs_dir": f"file://{tmp_path}/out",
                "storage_options": {"endpoint_url": "http://minio:9000"},
            }
        }
    )
    storage = config.storage
    assert storage.artifact_dir == "s3://bucket/candlecast/models"
    assert storage.outputs_dir == tmp_path / "out"  # a file:// URL is a local folder
    assert not storage.artifacts.is_local and storage.outputs.is_local
    assert storage.reports.path == tmp_path / "reports"  # the default, as before
    assert str(storage.artifacts / "close/gru" / "m.keras") == (
        "s3://bucket/candlecast/models/close/gru/m.keras"
    )
    assert dict(storage.artifacts.options) == {"endpoint_url": "http://minio:9000"}
    # travels to Dask workers with the config: a JSON round trip keeps the URL
    again = build_config(config.model_dump(mode="json"))
    assert again.storage.artifact_dir == "s3://bucket/candlecast/models"


def test_credentials_in_storage_options_are_refused_with_where_they_go():
    with pytest.raises(ConfigError, match=r"secret would put credentials.*AWS_SECRET_ACCESS_KEY"):
        build_config({"storage": {"storage_options": {"secret": "hunter2"}}})


def test_a_missing_fsspec_client_is_named():
    with pytest.raises(Exception, match=r"cannot open 'nosuchproto://b/x'"):
        Location.of("nosuchproto://b/x").exists()


# -- model files --------------------------------------------------------------------------------


def _network_run(store, cells, config, frame, now=NOW, mode="auto"):
    plan = SeriesPlan.from_config(config)
    prepared = prepare_series(frame, KEY, plan)
    return network_candidate(
        prepared,
        "close",
        config.model.cells[0],
        cells,
        config,
        store.registry,
        plan.folds,
        now,
        mode,
    )


@pytest.mark.slow
def test_models_on_s3_are_saved_reused_and_refused_when_changed(
    s3_bucket, tmp_path, builtin_cells, caplog
):
    """A network trained with `artifact_dir = s3://...` is stored there (.keras and its .json),
    registered with the checksum of the stored object, reused by a forecast-only run with the
    same forecast, and refused (then retrained) once the object's bytes change; nothing is
    written under data_home/models."""
    config = tiny_config(
        model={"cells": [{"name": "gru", "units": 4}]},
        training={"retrain": "every"},
        storage={
            "data_home": str(tmp_path),
            "artifact_dir": f"{s3_bucket.url}/models",
            "storage_options": s3_bucket.options,
        },
    )
    store = Store(f"sqlite:///{tmp_path / 'db.sqlite'}").create()
    first, outcome = _network_run(store, builtin_cells, config, make_candles(300))
    assert outcome.trained
    record = store.registry.all()[0]
    assert record.path.startswith(f"{s3_bucket.url}/models/{KEY.slug}/close/gru/")
    objects = s3_bucket.tree("models")
    stored = objects[record.path.removeprefix(f"{s3_bucket.url}/")]
    assert record.file_sha256 == hashlib.sha256(stored).hexdigest()
    assert sorted(Path(name).suffix for name in objects) == [".json", ".keras"]
    assert not (tmp_path / "models").exists()

    # reused: loaded from S3 in safe mode, the same forecast
    loaded = load_registered(record, builtin_cells, config.storage.location(record.path))
    assert loaded.name == "gru"
    again, outcome = _network_run(
        store, builtin_cells, config, make_candles(300), NOW + pd.Timedelta(minutes=5), "forecast"
    )
    assert not outcome.trained and "reused" in outcome.note
    assert np.allclose(again.forecast, first.forecast, atol=1e-6)

    # changed bytes in the bucket: refused on the checksum, logged, rejected, retrained
    tampered = bytearray(stored)
    tampered[200:264] = b"\x00" * 64
    s3_bucket.fs.pipe_file(record.path.removeprefix("s3://"), bytes(tampered))
    with pytest.raises(ModelError, match="changed since it was registered"):
        load_registered(record, builtin_cells, config.storage.location(record.path))
    with caplog.at_level(logging.WARNING, logger="candlecast.modelling"):
        _, outcome = _network_run(
            store, builtin_cells, config, make_candles(305), NOW + pd.Timedelta(hours=1)
        )
    assert outcome.trained and "unusable" in outcome.note
    assert any("changed since it was registered (checksum)" in m for m in caplog.messages)
    assert {r.model_id: r.status for r in store.registry.all()}[record.model_id] == "rejected"

    # a missing object: said so
    s3_bucket.fs.rm_file(record.path.removeprefix("s3://"))
    with pytest.raises(ModelError, match=r"model file 's3://.*\.keras' is missing"):
        load_registered(record, builtin_cells, config.storage.location(record.path))


# -- reports ------------------------------------------------------------------------------------


def test_reports_on_s3_and_their_index(s3_bucket):
    reports = Location.of(f"{s3_bucket.url}/reports", s3_bucket.options)
    first = publish_report(make_results("run-a"), reports)
    assert str(first) == f"{s3_bucket.url}/reports/run-a.html"
    publish_report(make_results("run-b"), reports, [])
    objects = s3_bucket.tree("reports")
    assert sorted(objects) == ["reports/index.html", "reports/run-a.html", "reports/run-b.html"]
    index = objects["reports/index.html"].decode()
    assert 'href="run-b.html"' in index  # links the reports that are there
    assert b"<!DOCTYPE html>" in objects["reports/run-a.html"][:100]
    assert not [name for name in objects if ".tmp" in name]  # no temporary key left


def test_a_plain_path_report_folder_is_written_as_before(tmp_path):
    path = publish_report(make_results("run-a"), tmp_path / "reports")
    assert path == tmp_path / "reports" / "run-a.html" and isinstance(path, Path)
    assert sorted(p.name for p in (tmp_path / "reports").iterdir()) == ["index.html", "run-a.html"]
