"""The `files` publisher: CSV, Parquet and JSON per run, a `latest` view per series, and a
manifest with row counts and checksums. Everything is written atomically: a run's folder
appears whole or not at all, and the previous `latest` files stay until the new ones are
complete.

Layout under `<data_home>/outputs/`:
  runs/<run_id>/{forecasts,flags,metrics}.{csv,parquet,json}, manifest.json
  latest/<series-slug>/{forecasts,flags}.{csv,parquet,json}
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from candlecast.core.atomic import atomic_dir, sha256_file, write_atomic
from candlecast.core.config import Config
from candlecast.core.results import RunResults
from candlecast.plugins import hookimpl
from candlecast.plugins.publishers.base import PublishReport


def _portable(frame: pd.DataFrame) -> pd.DataFrame:
    """Timestamps as ISO-8601 UTC strings for CSV/JSON; objects as strings."""
    out = frame.copy()
    for column in out.columns:
        if isinstance(out[column].dtype, pd.DatetimeTZDtype) or out[column].dtype.kind == "M":
            out[column] = pd.to_datetime(out[column], utc=True).dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    return out


def write_frame(frame: pd.DataFrame, folder: Path, stem: str, formats: list[str]) -> dict[Path, int]:
    written: dict[Path, int] = {}
    for fmt in formats:
        target = folder / f"{stem}.{fmt}"
        if fmt == "csv":
            write_atomic(target, lambda p: _portable(frame).to_csv(p, index=False))
        elif fmt == "parquet":
            write_atomic(target, lambda p: frame.to_parquet(p, index=False))
        elif fmt == "json":
            write_atomic(target, lambda p: _portable(frame).to_json(p, orient="records", indent=1))
        written[target] = len(frame)
    return written


class FilesPublisher:
    name = "files"
    description = "CSV / Parquet / JSON files per run and a latest view per series"

    def publish(self, results: RunResults, config: Config) -> PublishReport:
        root = config.storage.data_home / "outputs"
        formats = list(config.publish.formats)
        tables = {
            "forecasts": results.forecasts(),
            "flags": results.flags(),
            "metrics": results.metrics(),
        }
        report = PublishReport(self.name)
        run_dir = root / "runs" / results.run_id
        with atomic_dir(run_dir) as tmp:
            manifest = {"run_id": results.run_id, "status": results.status, "files": []}
            for stem, frame in tables.items():
                for path, rows in write_frame(frame, tmp, stem, formats).items():
                    manifest["files"].append(
                        {"file": path.name, "rows": rows, "sha256": sha256_file(path)}
                    )
                report.rows[stem] = len(frame)
            (tmp / "manifest.json").write_text(json.dumps(manifest, indent=1), encoding="utf-8")
        report.paths.append(run_dir)
        for outcome in results.series:
            if outcome.error:
                continue  # keep the last good latest view of a series that failed this run
            folder = root / "latest" / outcome.key.slug
            for stem in ("forecasts", "flags"):
                frame = tables[stem]
                part = frame[frame["series"] == outcome.id] if not frame.empty else frame
                write_frame(part, folder, stem, formats)
            report.paths.append(folder)
        return report


@hookimpl
def register_publishers(register) -> None:
    register(FilesPublisher())
