"""The `files` publisher on an object store (`storage.outputs_dir = "s3://..."`), against a real
S3 protocol server on loopback through s3fs: the same files and manifests as on a disk, and the
same all-or-nothing rule: a failed upload leaves the previous run folder and `latest` view
byte for byte, and no temporary key behind."""

from __future__ import annotations

import hashlib
import io
import json

import pandas as pd
import pytest

from candlecast.core.config import build_config
from candlecast.core.errors import StorageError
from candlecast.core.market.candles import SeriesKey
from candlecast.plugins.publishers.files import FilesPublisher
from tests.fixtures.results import HORIZON, KEY, MODELS, make_outcome, make_results

ETH = SeriesKey("binance", "ETH/USDT", "1h")


def _config(tmp_path, bucket, formats=("csv", "parquet", "json")):
    return build_config(
        {
            "storage": {
                "data_home": str(tmp_path / "home"),
                "outputs_dir": f"{bucket.url}/outputs",
                "storage_options": bucket.options,
            },
            "publish": {"publishers": ["files"], "formats": list(formats)},
        }
    )


def test_files_on_s3_have_manifests_with_the_stored_bytes_checksums(s3_bucket, tmp_path):
    results = make_results("run-a", series=(make_outcome(), make_outcome(ETH, seed=1)))
    report = FilesPublisher().publish(results, _config(tmp_path, s3_bucket))
    assert report.paths[0] == f"{s3_bucket.url}/outputs/runs/run-a"
    objects = s3_bucket.tree("outputs")
    run = {k.removeprefix("outputs/runs/run-a/"): v for k, v in objects.items() if "/runs/" in k}
    manifest = json.loads(run["manifest.json"])
    assert len(manifest["files"]) == 9 and set(run) == {e["file"] for e in manifest["files"]} | {
        "manifest.json"
    }
    for entry in manifest["files"]:
        data = run[entry["file"]]
        assert entry["sha256"] == hashlib.sha256(data).hexdigest()
        assert entry["bytes"] == len(data)
    btc = pd.read_csv(io.BytesIO(objects[f"outputs/latest/{KEY.slug}/forecasts.csv"]))
    assert set(btc["series"]) == {str(KEY)} and len(btc) == len(MODELS) * HORIZON
    latest = json.loads(objects[f"outputs/latest/{ETH.slug}/manifest.json"])
    assert latest["run_id"] == "run-a" and latest["series"] == str(ETH)
    assert not (tmp_path / "home" / "outputs").exists()  # nothing went to the local disk
    assert not [k for k in objects if ".tmp" in k]


@pytest.mark.parametrize("fail_at", ["run folder", "latest view"])
def test_a_failed_upload_keeps_the_previous_output_on_s3(s3_bucket, tmp_path, monkeypatch, fail_at):
    import fsspec

    config = _config(tmp_path, s3_bucket, formats=("csv", "json"))
    FilesPublisher().publish(make_results("run-a"), config)
    before = s3_bucket.tree("outputs")

    fs = fsspec.filesystem("s3", **s3_bucket.options)  # the client the publisher uses
    uploads = {"n": 0}
    real = fs.put_file
    run_files = 3 * 2 + 1  # three tables in two formats and the manifest, uploaded first
    fail_on = 4 if fail_at == "run folder" else run_files + 3

    def flaky(lpath, rpath, *args, **kwargs):
        uploads["n"] += 1
        if uploads["n"] == fail_on:
            raise OSError(5, "connection reset by the object store")
        return real(lpath, rpath, *args, **kwargs)

    monkeypatch.setattr(fs, "put_file", flaky)
    later = make_results("run-b", series=(make_outcome(n=610, level=200.0),))
    with pytest.raises(StorageError, match="connection reset"):
        FilesPublisher().publish(later, config)

    after = s3_bucket.tree("outputs")
    assert [k for k in after if ".tmp" in k] == []
    unchanged = {k: v for k, v in after.items() if not k.startswith("outputs/runs/run-b/")}
    assert unchanged == before  # run a's folder and the latest view, byte for byte
    if fail_at == "run folder":
        assert not [k for k in after if k.startswith("outputs/runs/run-b/")]
    else:  # the run folder was complete before the latest view failed
        assert json.loads(after["outputs/runs/run-b/manifest.json"])["files"]

    monkeypatch.setattr(fs, "put_file", real)
    FilesPublisher().publish(later, config)  # the next attempt replaces the latest view whole
    shown = s3_bucket.tree(f"outputs/latest/{KEY.slug}")
    assert json.loads(shown[f"outputs/latest/{KEY.slug}/manifest.json"])["run_id"] == "run-b"
    forecasts = pd.read_csv(io.BytesIO(shown[f"outputs/latest/{KEY.slug}/forecasts.csv"]))
    assert set(forecasts["run_id"]) == {"run-b"}


def test_the_latest_view_on_s3_only_moves_forward_and_drops_stale_formats(s3_bucket, tmp_path):
    FilesPublisher().publish(
        make_results("run-b", n=610, level=200.0), _config(tmp_path, s3_bucket)
    )
    report = FilesPublisher().publish(make_results("run-a"), _config(tmp_path, s3_bucket))
    assert "latest view kept for binance:BTC/USDT:1h" in report.note
    newer = make_results("run-c", n=620, level=210.0)
    FilesPublisher().publish(newer, _config(tmp_path, s3_bucket, formats=("csv",)))
    names = {k.rsplit("/", 1)[1] for k in s3_bucket.tree(f"outputs/latest/{KEY.slug}")}
    assert names == {"forecasts.csv", "flags.csv", "manifest.json"}
