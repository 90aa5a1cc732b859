"""The `files` publisher: CSV, Parquet and JSON per run, a `latest` view per series, and a
manifest with row counts and checksums. Everything is written atomically: a run's folder
appears whole or not at all, and the previous `latest` files stay until the new ones are
complete.

Layout under `storage.outputs_dir` (default `<data_home>/outputs/`; a folder or an fsspec URL
such as `s3://bucket/outputs`):
  runs/<run_id>/{forecasts,flags,metrics}.{csv,parquet,json}, manifest.json
  latest/<series-slug>/{forecasts,flags}.{csv,parquet,json}, manifest.json

`manifest.json` lists every file with its table, format, row count, size and sha256. The
`latest` view of a series only moves forward: publishing an older run again (its forecast
origin is before the one shown) leaves it alone.

On an object store, files are built in a local temporary folder and uploaded to temporary keys;
only when every one is there are they moved into place, the manifest last (a run folder is
complete once its manifest is there; a failed upload leaves the `latest` view as it was).
"""

from __future__ import annotations

import contextlib
import json
import tempfile
from collections.abc import Iterator
from dataclasses import fields
from pathlib import Path
from typing import Any

import pandas as pd

from candlecast.core.anomalies.flag import Flag
from candlecast.core.config import Config
from candlecast.core.errors import StorageError
from candlecast.core.results import FORECAST_COLUMNS, RunResults, SeriesOutcome
from candlecast.core.storage.atomic import atomic_dir, atomic_path, sha256_file
from candlecast.core.storage.location import Location
from candlecast.plugins import hookimpl
from candlecast.plugins.publishers.base import PublishReport

FORMATS = ("csv", "parquet", "json")
LATEST_TABLES = ("forecasts", "flags")
# Column sets of tables that can be empty: a file with no rows still has its header.
EMPTY_COLUMNS = {
    "forecasts": list(FORECAST_COLUMNS),
    "flags": ["run_id", *(f.name for f in fields(Flag))],
    "metrics": ["run_id", "series", "model", "family"],
}


def _portable(frame: pd.DataFrame) -> pd.DataFrame:
    """Timestamps as ISO-8601 UTC strings for CSV/JSON; objects as strings."""
    out = frame.copy()
    for column in out.columns:
        if isinstance(out[column].dtype, pd.DatetimeTZDtype) or out[column].dtype.kind == "M":
            out[column] = pd.to_datetime(out[column], utc=True).dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    return out


def _write(frame: pd.DataFrame, path: Path, fmt: str) -> None:
    if fmt == "csv":
        _portable(frame).to_csv(path, index=False)
    elif fmt == "parquet":
        frame.to_parquet(path, index=False)
    elif fmt == "json":
        _portable(frame).to_json(path, orient="records", indent=1)
    else:  # config validation allows only FORMATS
        raise ValueError(f"file format must be one of {', '.join(FORMATS)}, got {fmt!r}")


def _entry(path: Path, stem: str, fmt: str, rows: int) -> dict[str, Any]:
    return {
        "file": path.name,
        "table": stem,
        "format": fmt,
        "rows": rows,
        "bytes": path.stat().st_size,
        "sha256": sha256_file(path),
    }


def write_frame(
    frame: pd.DataFrame, folder: Path, stem: str, formats: list[str]
) -> list[dict[str, Any]]:
    """`frame` as `<folder>/<stem>.<fmt>` for every format (each file atomically); returns
    their manifest entries."""
    entries = []
    for fmt in formats:
        target = folder / f"{stem}.{fmt}"
        with atomic_path(target) as tmp:
            _write(frame, tmp, fmt)
            entries.append(_entry(tmp, stem, fmt, len(frame)) | {"file": target.name})
    return entries


def run_tables(results: RunResults) -> dict[str, pd.DataFrame]:
    """The run's forecasts, flags and metrics; an empty table keeps its columns."""
    tables = {
        "forecasts": results.forecasts(),
        "flags": results.flags(),
        "metrics": results.metrics(),
    }
    return {
        stem: frame if len(frame.columns) else pd.DataFrame(columns=EMPTY_COLUMNS[stem])
        for stem, frame in tables.items()
    }


def _series_part(frame: pd.DataFrame, series: str) -> pd.DataFrame:
    return frame[frame["series"] == series].reset_index(drop=True)


def _shown_origin(folder: Location) -> pd.Timestamp | None:
    """The forecast origin of the run the `latest` folder shows (None: nothing shown yet)."""
    try:
        manifest = json.loads((folder / "manifest.json").read_text())
        return pd.Timestamp(manifest["origin"])
    except (OSError, StorageError, ValueError, KeyError, TypeError):
        return None


@contextlib.contextmanager
def _new_folder(target: Location) -> Iterator[Path]:
    """A local folder to fill; when the block succeeds it replaces `target` (a local folder:
    `atomic_dir`; a remote one: uploaded whole, the manifest last)."""
    if target.is_local:
        with atomic_dir(target.path) as tmp:
            yield tmp
        return
    with tempfile.TemporaryDirectory(prefix="candlecast-publish-") as folder:
        yield Path(folder)
        files = {entry.name: entry for entry in sorted(Path(folder).iterdir()) if entry.is_file()}
        target.replace_many(files, last="manifest.json")


def _shown(location: Location) -> Path | str:
    return location.path if location.is_local else str(location)


def _origin_text(outcome: SeriesOutcome) -> str | None:
    return None if outcome.origin is None else pd.Timestamp(outcome.origin).isoformat()


class FilesPublisher:
    name = "files"
    description = "CSV / Parquet / JSON files per run and a latest view per series"

    def publish(self, results: RunResults, config: Config) -> PublishReport:
        root = config.storage.outputs
        formats = list(config.publish.formats)
        tables = run_tables(results)
        report = PublishReport(self.name)
        run_dir = root / "runs" / results.run_id
        with _new_folder(run_dir) as tmp:
            files = []
            for stem, frame in tables.items():
                files += write_frame(frame, tmp, stem, formats)
                report.rows[stem] = len(frame)
            manifest = {
                "run_id": results.run_id,
                "status": results.status,
                "started": results.started.isoformat(),
                "series": {
                    s.id: {"champions": _champions(s), "origin": _origin_text(s), "error": s.error}
                    for s in results.series
                },
                "files": files,
            }
            (tmp / "manifest.json").write_text(json.dumps(manifest, indent=1), encoding="utf-8")
        report.paths.append(_shown(run_dir))
        skipped = []
        for outcome in results.series:
            if outcome.error:
                continue  # keep the last good latest view of a series that failed this run
            folder = root / "latest" / outcome.key.slug
            shown = _shown_origin(folder)
            if shown is not None and outcome.origin is not None and shown > outcome.origin:
                skipped.append(f"{outcome.id} (latest shows a newer forecast from {shown})")
                continue
            parts = {stem: _series_part(tables[stem], outcome.id) for stem in LATEST_TABLES}
            if folder.is_local:
                self._replace_latest(folder.path, parts, formats, results.run_id, outcome)
            else:
                self._replace_remote_latest(folder, parts, formats, results.run_id, outcome)
            report.paths.append(_shown(folder))
        if skipped:
            report.note = "latest view kept for " + "; ".join(skipped)
        return report

    def _replace_latest(
        self,
        folder: Path,
        parts: dict[str, pd.DataFrame],
        formats: list[str],
        run_id: str,
        outcome: SeriesOutcome,
    ) -> None:
        """Write every file of the series' latest view to a temporary name first; only when all
        are complete do they replace the old ones (a failure leaves the old view and no
        temporary file). The manifest goes last."""
        with contextlib.ExitStack() as stack:
            # entered first, so replaced last (exits run in reverse order)
            manifest_tmp = stack.enter_context(atomic_path(folder / "manifest.json"))
            files = []
            for stem, frame in parts.items():
                for fmt in formats:
                    target = folder / f"{stem}.{fmt}"
                    tmp = stack.enter_context(atomic_path(target))
                    _write(frame, tmp, fmt)
                    files.append(_entry(tmp, stem, fmt, len(frame)) | {"file": target.name})
            manifest = {
                "run_id": run_id,
                "series": outcome.id,
                "origin": _origin_text(outcome),
                "champions": _champions(outcome),
                "files": files,
            }
            manifest_tmp.write_text(json.dumps(manifest, indent=1), encoding="utf-8")
        for stem in parts:  # a format no longer configured must not show stale data
            for fmt in set(FORMATS) - set(formats):
                (folder / f"{stem}.{fmt}").unlink(missing_ok=True)

    def _replace_remote_latest(
        self,
        folder: Location,
        parts: dict[str, pd.DataFrame],
        formats: list[str],
        run_id: str,
        outcome: SeriesOutcome,
    ) -> None:
        """`_replace_latest` on an object store: every file is built locally, uploaded to a
        temporary key, and moved into place only when all are uploaded, the manifest last."""
        with tempfile.TemporaryDirectory(prefix="candlecast-latest-") as staging:
            local = Path(staging)
            files = []
            for stem, frame in parts.items():
                files += write_frame(frame, local, stem, formats)
            manifest = {
                "run_id": run_id,
                "series": outcome.id,
                "origin": _origin_text(outcome),
                "champions": _champions(outcome),
                "files": files,
            }
            (local / "manifest.json").write_text(json.dumps(manifest, indent=1), encoding="utf-8")
            folder.replace_many(
                {entry.name: entry for entry in sorted(local.iterdir())}, last="manifest.json"
            )
        for stem in parts:  # a format no longer configured must not show stale data
            for fmt in set(FORMATS) - set(formats):
                (folder / f"{stem}.{fmt}").remove()


def _champions(outcome: SeriesOutcome) -> dict[str, str | None]:
    """target -> its champion (None where the target failed)."""
    return {name: t.champion for name, t in outcome.targets.items()}


@hookimpl
def register_publishers(register) -> None:
    register(FilesPublisher())
