"""Bad input through the real `candlecast` entry point: each gives one clear message naming
the input and what is allowed, exit code 2, no traceback (tracebacks only with --debug), and
leaves the stored data as it was.

Every case runs against one data home whose database already holds the good series (fetched
once for the module); after each case its candles, runs and forecasts are compared with that
snapshot."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from tests.faults.conftest import cli, snapshot, table_rows, tiny_toml, write_candles_csv
from tests.fixtures.series import make_candles

pytestmark = pytest.mark.faults

SERIES = "csv:BTC/USDT:1h"
BLOCK = {"CANDLECAST_BLOCK_PLUGINS": "candlecast.plugins.cells.gru"}


def _rows(path: Path) -> tuple[list[str], list[list[str]]]:
    with path.open(newline="") as handle:
        rows = list(csv.reader(handle))
    return rows[0], rows[1:]


def _write(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def _bad_files(folder: Path, good: Path) -> None:
    """Broken variants of the good CSV, one fault each."""
    header, rows = _rows(good)
    _write(folder / "wrong_columns.csv", ["time", *header[1:5], "vol"], rows)
    swapped = [list(r) for r in rows]
    swapped[10], swapped[11] = swapped[11], swapped[10]
    _write(folder / "unsorted.csv", header, swapped)
    repeated = [list(r) for r in rows]
    repeated.insert(21, [*repeated[20][:4], str(float(repeated[20][4]) * 1.01), repeated[20][5]])
    _write(folder / "duplicated.csv", header, repeated)
    zones = [list(r) for r in rows]
    zones[5][0] += "+02:00"
    _write(folder / "mixed_zones.csv", header, zones)
    _write(folder / "empty.csv", header, [])
    _write(folder / "short.csv", header, rows[:60])
    bad_values = [list(r) for r in rows]
    bad_values[100][4] = "nan"  # close
    bad_values[200][1] = "-3.5"  # open
    _write(folder / "nan_negative.csv", header, bad_values)
    (folder / "a_folder.csv").mkdir()


@pytest.fixture(scope="module")
def seeded(tmp_path_factory):
    """A work folder whose database holds the good series; bad files beside it."""
    work = tmp_path_factory.mktemp("bad-input")
    good = write_candles_csv(work / "good.csv", make_candles(600))
    _bad_files(work, good)
    tiny_toml(work / "candlecast.toml", good)
    fetched = cli("fetch", cwd=work)
    assert fetched.returncode == 0, fetched.stderr
    return work


def _stored(work: Path) -> dict[str, list]:
    url = f"sqlite:///{work / 'home' / 'candlecast.db'}"
    return {t: table_rows(url, t) for t in ("candles", "runs", "forecasts", "models")}


def _one_error(result) -> str:
    """The one `error:` message (its continuation lines included); no traceback."""
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    lines = result.stderr.splitlines()
    starts = [i for i, line in enumerate(lines) if line.startswith("error:")]
    assert len(starts) == 1, result.stderr
    return " ".join(lines[starts[0] :])


# (case id, arguments, environment, fragments the message must contain)
CONFIG_CASES = [
    (
        "value of the wrong type",
        ["run", "--set", 'model.window="abc"'],
        {},
        ["`model.window` = 'abc'", "valid integer"],
    ),
    (
        "value out of range",
        ["run", "--set", "training.epochs=-1"],
        {},
        ["`training.epochs` = -1", "greater than or equal to 1"],
    ),
    (
        "a string where a list belongs",
        ["run", "--set", 'source.symbols="BTC/USDT"'],
        {},
        ["`source.symbols` = 'BTC/USDT'", "valid list"],
    ),
    (
        "value not among the allowed",
        ["run", "--set", 'model.head="vec2vec"'],
        {},
        ["`model.head` = 'vec2vec'", "'seq2vec', 'seq2seq' or 'seq2vec2seq'"],
    ),
    (
        "misspelled section",
        ["run", "--set", "modle.window=3"],
        {},
        ["`modle` is not a known setting (did you mean `model`?)", "allowed here: source"],
    ),
    (
        "malformed TOML",
        ["run", "--config", "broken.toml"],
        {},
        ["config file 'broken.toml' is not valid TOML"],
    ),
    (
        "override without a value",
        ["run", "--set", "model.window"],
        {},
        ["override 'model.window' must look like section.key=value"],
    ),
    ("unknown mode", ["run", "--mode", "fast"], {}, ["--mode 'fast' is unknown; allowed: auto"]),
    (
        "unknown source",
        ["run", "--source", "nope"],
        {},
        ["unknown source 'nope'; registered sources: ccxt, csv"],
    ),
    (
        "unknown publisher",
        ["run", "--set", 'publish.publishers=["ftp"]'],
        {},
        ["unknown publisher 'ftp'; registered publishers: files, sql"],
    ),
    (
        "unknown detector",
        ["run", "--set", 'anomalies.detectors=["zz"]'],
        {},
        ["unknown detector 'zz'; registered detectors: breach, irregular, surprise, volume"],
    ),
    (
        "a blocked built-in cell named in the config",
        ["run", "--check"],
        BLOCK,
        [
            "unknown cell 'gru'; registered cells: bidirectional,",
            "lstm, simple",
            "CANDLECAST_BLOCK_PLUGINS blocks the plugin(s) candlecast.plugins.cells.gru",
        ],
    ),
    (
        "unknown exchange",
        ["run", "--source", "ccxt", "--exchange", "binanse"],
        {},
        ["exchange 'binanse' is not a ccxt exchange id; did you mean binance"],
    ),
]

CSV_CASES = [
    (
        "wrong columns",
        "wrong_columns.csv",
        ["lacks the column(s) timestamp, volume; found time,", "expected timestamp,open,high"],
    ),
    (
        "unsorted timestamps",
        "unsorted.csv",
        ["timestamps are not sorted: 2024-01-01T10:00:00+00:00 in row 12 (line 13)", "sort"],
    ),
    (
        "a duplicated timestamp with other values",
        "duplicated.csv",
        ["timestamp 2024-01-01T20:00:00+00:00 appears twice with different values", "remove one"],
    ),
    (
        "mixed time zones",
        "mixed_zones.csv",
        ["timestamps mix timezone notations", "row 6 (line 7) has one; use one notation"],
    ),
    ("an empty series", "empty.csv", ["empty.csv has a header but no rows"]),
    ("a folder, not a file", "a_folder.csv", ["a_folder.csv' does not exist or is not a file"]),
]


@pytest.mark.parametrize(
    ("args", "env", "fragments"), [c[1:] for c in CONFIG_CASES], ids=[c[0] for c in CONFIG_CASES]
)
def test_bad_configuration(seeded, args, env, fragments):
    (seeded / "broken.toml").write_text("[model\nwindow = 3\n")
    before, outputs = _stored(seeded), snapshot(seeded / "home" / "outputs")
    message = _one_error(cli(*args, cwd=seeded, **env))
    for fragment in fragments:
        assert fragment in message
    assert _stored(seeded) == before and snapshot(seeded / "home" / "outputs") == outputs


@pytest.mark.slow
@pytest.mark.parametrize(
    ("name", "fragments"), [c[1:] for c in CSV_CASES], ids=[c[0] for c in CSV_CASES]
)
def test_a_bad_candle_csv_fails_its_series_with_one_message(seeded, name, fragments):
    """The series fails at fetch (with several symbols the others go on: see
    tests/flows/test_forecast_flow.py); nothing of it is stored but a failed run row."""
    before = _stored(seeded)
    latest = snapshot(seeded / "home" / "outputs" / "latest")
    message = _one_error(cli("run", "--csv", name, cwd=seeded))
    assert name in message
    for fragment in fragments:
        assert fragment in message
    assert "offline" not in message  # the exchange hint (use a CSV) is for exchanges
    after = _stored(seeded)
    for table in ("candles", "forecasts", "models"):
        assert after[table] == before[table]
    assert all(r[3] == "failed" for r in after["runs"] if r not in before["runs"])
    assert snapshot(seeded / "home" / "outputs" / "latest") == latest


def test_the_debug_flag_shows_the_traceback(seeded):
    result = cli("--debug", "run", "--csv", "unsorted.csv", cwd=seeded)
    assert result.returncode != 0 and "Traceback" in result.stderr
    assert "DataError: " in result.stderr


def test_nan_and_negative_prices_are_rejected_counted_and_never_stored(seeded, tmp_path):
    """Not an error: the bad candles are rejected with their reasons, the rest is stored."""
    tiny_toml(tmp_path / "candlecast.toml", seeded / "nan_negative.csv")
    result = cli("fetch", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    assert f"{SERIES}: rejected 2 of 600 candles: 1 nan, 1 non_positive_price" in result.stdout
    candles = table_rows(f"sqlite:///{tmp_path / 'home' / 'candlecast.db'}", "candles")
    assert len(candles) == 598
    stored_times = {row[3] for row in candles}
    good = make_candles(600)
    assert {int(t.value // 1_000_000) for t in good.index[[100, 200]]}.isdisjoint(stored_times)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("case", "args", "fragments"),
    [
        (
            "window larger than the history",
            ["--set", "model.window=5000"],
            ["600 usable candles, but window 5000", "lower model.window"],
        ),
        (
            "too little history for any model",
            ["--csv", "short.csv", "--set", "storage.data_home=short-home"],
            ["60 usable candles", "need at least", "fetch more history (source.history_days)"],
        ),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_too_little_history_fails_the_series_with_what_it_needs(seeded, case, args, fragments):
    before = _stored(seeded)
    outputs = snapshot(seeded / "home" / "outputs" / "latest")
    message = _one_error(cli("run", *args, cwd=seeded))
    assert f"every series failed: {SERIES}: " in message
    assert f"{SERIES}: {SERIES}" not in message
    for fragment in fragments:
        assert fragment in message
    after = _stored(seeded)
    assert after["candles"] == before["candles"] and after["forecasts"] == before["forecasts"]
    assert after["models"] == before["models"]
    new_runs = [r for r in after["runs"] if r not in before["runs"]]
    assert all(r[3] == "failed" for r in new_runs)  # recorded as a failed run, nothing else
    assert snapshot(seeded / "home" / "outputs" / "latest") == outputs
