"""`candlecast candles` as a user runs it (issue 15, point 3): what the store holds, and
deleting a series' candles in a range, counted first, deleted only with --yes."""

from __future__ import annotations

import os
import subprocess
import sys

import pandas as pd
import pytest
from typer.testing import CliRunner

from candlecast.cli.main import app
from candlecast.core.errors import CandlecastError
from candlecast.core.market.candles import SeriesKey
from candlecast.core.storage.store import Store
from tests.fixtures.series import make_candles

KEY = SeriesKey("csv", "BTC/USDT", "1h")


def cli(*args: str, cwd) -> subprocess.CompletedProcess:
    env = os.environ | {"PREFECT_SERVER_ANALYTICS_ENABLED": "false", "COLUMNS": "200"}
    env.pop("CANDLECAST_DATABASE_URL", None)
    command = [sys.executable, "-c", "from candlecast.cli.main import main; main()", *args]
    return subprocess.run(command, capture_output=True, text=True, cwd=cwd, env=env, timeout=300)


@pytest.fixture
def home(tmp_path):
    """A data home whose store holds 48 hourly candles and 2 stamped at close times (hh:59:59,
    what an earlier candlecast stored from a close-stamped CSV)."""
    candles = make_candles(48)
    strays = candles.iloc[[46, 47]].copy()
    strays.index = strays.index + pd.Timedelta(minutes=59, seconds=59)
    store = Store(f"sqlite:///{tmp_path / 'candlecast.db'}").create()
    store.candles.upsert(KEY, pd.concat([candles, strays]).sort_index())
    store.close()
    return tmp_path


def count(home, **kwargs) -> int:
    store = Store(f"sqlite:///{home / 'candlecast.db'}")
    try:
        return store.candles.count(KEY, **kwargs)
    finally:
        store.close()


def test_list_shows_each_series_with_its_span_and_what_is_off_the_grid(home):
    result = cli("candles", "list", "--data-home", str(home), cwd=home)
    assert result.returncode == 0, result.stderr
    row = next(line for line in result.stdout.splitlines() if "csv:BTC/USDT:1h" in line)
    assert [cell.strip() for cell in row.strip("│ ").split("│")] == [
        "csv:BTC/USDT:1h",
        "50",
        "2024-01-01 00:00",
        "2024-01-02 23:59",
        "2",
    ]


def test_delete_counts_first_and_deletes_only_with_yes(home):
    base = ["candles", "delete", "--data-home", str(home), "--exchange", "csv"]
    dry = cli(*base, "--symbol", "BTC/USDT", "--off-grid", cwd=home)
    assert dry.returncode == 0, dry.stderr
    assert dry.stdout.strip() == (
        "would delete 2 candles off the 1h grid of csv:BTC/USDT:1h (open times 2024-01-02 "
        "22:59 .. 2024-01-02 23:59 UTC; the series holds 50); nothing was deleted: add --yes "
        "to delete them"
    )
    assert count(home) == 50

    done = cli(*base, "--symbol", "BTC/USDT", "--off-grid", "--yes", cwd=home)
    assert done.stdout.strip() == (
        "deleted 2 candles off the 1h grid of csv:BTC/USDT:1h (open times 2024-01-02 22:59 .. "
        "2024-01-02 23:59 UTC); 48 remain, the newest at 2024-01-02 23:00 UTC"
    )
    assert count(home) == 48 and count(home, off_grid_unit_ms=3_600_000) == 0

    ranged = cli(
        *base,
        "--symbol",
        "BTC/USDT",
        "--from",
        "2024-01-02",
        "--to",
        "2024-01-02T06:00",
        "--yes",
        cwd=home,
    )
    assert ranged.stdout.strip() == (
        "deleted 6 candles of csv:BTC/USDT:1h from 2024-01-02 00:00 before 2024-01-02 06:00 "
        "(open times 2024-01-02 00:00 .. 2024-01-02 05:00 UTC); 42 remain, the newest at "
        "2024-01-02 23:00 UTC"
    )
    start = pd.Timestamp("2024-01-02", tz="UTC")
    assert count(home, start=start, end=start + pd.Timedelta(hours=6)) == 0
    assert count(home) == 42

    nothing = cli(*base, "--symbol", "BTC/USDT", "--to", "2023-12-31", "--yes", cwd=home)
    assert nothing.returncode == 0
    assert nothing.stdout.strip() == (
        "no candles of csv:BTC/USDT:1h before 2023-12-31 00:00: nothing to delete (the series "
        "holds 42, open times 2024-01-01 00:00 .. 2024-01-02 23:00 UTC)"
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--symbol", "BTC/USDT"],
            "error: name the candles to delete: --from and/or --to (open times, UTC; --to is "
            "exclusive), --off-grid, or --all for every candle of the series",
        ),
        (
            ["--symbol", "BTC/USDT", "--timeframe", "4h", "--all"],
            "error: no candles are stored for csv:BTC/USDT:4h; stored series: csv:BTC/USDT:1h (50)",
        ),
        (
            ["--symbol", "BTC/USDT", "--from", "soon"],
            "error: --from 'soon' is not a date or date-time; use ISO 8601, e.g. 2024-03-01 or "
            "2024-03-01T12:00 (UTC unless it names an offset)",
        ),
        (
            ["--symbol", "BTC/USDT", "--from", "2024-01-02", "--to", "2024-01-01"],
            "error: --from 2024-01-02T00:00:00+00:00 is not before --to "
            "2024-01-01T00:00:00+00:00: the range [from, to) is empty",
        ),
        (
            ["--symbol", "BTC/USDT", "--all", "--from", "2024-01-02"],
            "error: --all means every candle of the series: give it without --from/--to",
        ),
    ],
    ids=["no-range", "unknown-series", "bad-date", "empty-range", "all-and-range"],
)
def test_bad_deletes_say_what_is_wrong_and_delete_nothing(home, args, message):
    """In process (main() prints the error as `error: <message>` with exit code 2)."""
    result = CliRunner().invoke(
        app, ["candles", "delete", "--data-home", str(home), "--exchange", "csv", *args, "--yes"]
    )
    assert isinstance(result.exception, CandlecastError)
    assert f"error: {result.exception}" == message
    assert count(home) == 50
