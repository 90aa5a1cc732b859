"""Shared pieces of the fault-injection and bad-input suite (marker `faults`).

Flow tests reuse the session's Prefect test harness; CLI tests run the real entry point in a
subprocess (`cli`), with test-only pause points (`core/storage/faultpoints.py`) where a test must stop
a process at an exact moment.
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.flows.conftest import prefect_harness  # noqa: F401  (the session's Prefect API)

ENTRY = "from candlecast.cli.main import main; main()"


def cli_env(**extra: str) -> dict[str, str]:
    env = os.environ | {"PREFECT_SERVER_ANALYTICS_ENABLED": "false", "COLUMNS": "200"}
    for name in ("CANDLECAST_DATABASE_URL", "CANDLECAST_SQL_URL", "CANDLECAST_FAULTPOINT"):
        env.pop(name, None)
    return env | extra


def cli(*args: str, cwd: Path, timeout: float = 300, **env: str) -> subprocess.CompletedProcess:
    """`candlecast ARGS` as a user runs it (the console script's `main`)."""
    return subprocess.run(
        [sys.executable, "-c", ENTRY, *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=cli_env(**env),
        timeout=timeout,
    )


def start_cli(*args: str, cwd: Path, log: Path, **env: str) -> subprocess.Popen:
    """`candlecast ARGS` in the background; stdout and stderr go to `log`."""
    handle = log.open("w")
    return subprocess.Popen(
        [sys.executable, "-c", ENTRY, *args],
        stdout=handle,
        stderr=subprocess.STDOUT,
        cwd=cwd,
        env=cli_env(**env),
        start_new_session=True,
    )


def wait_for(path: Path, process: subprocess.Popen, timeout: float = 240) -> str:
    """Wait until `path` exists (a pause point was reached); fail if the process ends first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and path.read_text().strip():
            return path.read_text()
        if process.poll() is not None:
            raise AssertionError(f"the process ended ({process.returncode}) before {path}")
        time.sleep(0.1)
    kill(process)
    raise AssertionError(f"{path} did not appear within {timeout} s")


def kill(process: subprocess.Popen) -> None:
    """SIGKILL the process (and anything it started), as the OOM killer or `kill -9` would."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=30)


def write_candles_csv(path: Path, frame) -> Path:
    out = frame.drop(columns="synthetic", errors="ignore").copy()
    out.index = out.index.tz_convert(None)
    out.to_csv(path, index_label="timestamp")
    return path


def tiny_toml(
    path: Path, csv: Path | None, *, home: str = "home", cells=("gru",), extra: str = ""
) -> Path:
    """A configuration file for one small network on a CSV series' close (trains in
    seconds)."""
    cell_tables = "".join(f'[[model.cells]]\nname = "{c}"\nunits = 4\n' for c in cells)
    source = f'[source]\nname = "csv"\npath = "{csv}"\nhistory_days = 60\n' if csv else ""
    path.write_text(
        f"""{source}
[model]
window = 12
horizon = 4
targets = ["close"]
{cell_tables}
[training]
epochs = 2
batch_size = 32
patience = 1

[backtest]
origins_per_fold = 40
step = 2
baselines = ["naive", "seasonal_naive"]

[anomalies]
enabled = false

[storage]
data_home = "{home}"
lock_wait_s = 0
{extra}
""",
        encoding="utf-8",
    )
    return path


def table_rows(url: str, table: str) -> list[tuple]:
    """Every row of `table`, sorted (what "stored data unchanged" compares)."""
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            if not sa.inspect(conn).has_table(table):
                return []
            rows = conn.execute(sa.text(f"select * from {table}")).all()  # test-only SQL
        return sorted((tuple(r) for r in rows), key=repr)
    finally:
        engine.dispose()


def snapshot(root: Path) -> dict[str, str]:
    """relative path -> sha256 of every file under `root` (hidden temporaries included)."""
    if not root.exists():
        return {}
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def temporaries(root: Path) -> list[str]:
    """Leftover temporary files or folders (atomic writes, model saves) under `root`."""
    return sorted(
        str(p.relative_to(root))
        for p in root.rglob("*")
        if ".tmp" in p.name or p.name.endswith(".old")
    )


@pytest.fixture
def series_csv(tmp_path) -> Iterator[Path]:
    """600 hourly candles (the `candles` fixture) as an exchange-export CSV."""
    from tests.fixtures.series import make_candles

    yield write_candles_csv(tmp_path / "candles.csv", make_candles(600))
