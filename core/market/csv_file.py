"""Read an exchange-export candle CSV into a candle frame.

Columns `timestamp,open,high,low,close,volume` (names are matched case-insensitively; further
columns are ignored), separated by commas, or by semicolons, tabs or `|` (told from the header
line). `timestamp` is either ISO 8601 text -- naive means UTC, an offset (`Z`, `+02:00`) is
converted to UTC, one file uses one notation -- or epoch seconds or milliseconds (one unit per
file). Rows must be in increasing time order; a repeated timestamp whose row is identical is
dropped, a repeated timestamp with different values is an error.

Values are parsed as numbers but not judged: `validate_candles` does that. A missing value (an
empty cell, `NaN`, `null`, `None`, `NA`, `N/A`) becomes NaN, which validation rejects per row.
Whether the timestamps fit a timeframe is csv_timeframe.py's question.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from candlecast.core.errors import DataError
from candlecast.core.market.candles import OHLCV_COLUMNS

REQUIRED = ("timestamp", *OHLCV_COLUMNS)
DELIMITERS = (",", ";", "\t", "|")
MISSING = ("", "nan", "null", "none", "na", "n/a", "#n/a")  # compared in lower case
_DELIMITER_NAMES = {",": "commas", ";": "semicolons", "\t": "tabs", "|": "'|'"}
_OFFSET = re.compile(r"(?:Z|[+-]\d{2}(?::?\d{2})?)$", re.IGNORECASE)
_NUMBER = re.compile(r"^[+-]?\d+(?:\.\d*)?$")
# Epoch magnitudes: seconds below 1e11 (year 5138), milliseconds from 1e11 (1973) below 1e14.
_MS_FROM = 1e11
_MS_UNTIL = 1e14


def _line(row: int) -> str:
    """Row `row` (0-based data row) as the user sees it in the file: header is line 1."""
    return f"row {row + 1} (line {row + 2})"


def _parse_epoch(text: pd.Series, path: Path) -> pd.DatetimeIndex:
    numbers = pd.to_numeric(text).to_numpy(dtype="float64")
    if (numbers >= _MS_UNTIL).any() or (numbers < 0).any():
        row = int(np.flatnonzero((numbers >= _MS_UNTIL) | (numbers < 0))[0])
        raise DataError(
            f"{path}: timestamp {text.iloc[row]!r} in {_line(row)} is not epoch seconds or "
            f"milliseconds (allowed: 0 <= value < 1e14)"
        )
    is_ms = numbers >= _MS_FROM
    if is_ms.any() and not is_ms.all():
        s_row, ms_row = int(np.flatnonzero(~is_ms)[0]), int(np.flatnonzero(is_ms)[0])
        raise DataError(
            f"{path}: timestamps mix epoch seconds ({text.iloc[s_row]!r} in {_line(s_row)}) and "
            f"milliseconds ({text.iloc[ms_row]!r} in {_line(ms_row)}); use one unit per file"
        )
    unit = "ms" if is_ms.all() else "s"
    return pd.DatetimeIndex(pd.to_datetime(numbers, unit=unit, utc=True), name="timestamp")


def _parse_iso(text: pd.Series, path: Path) -> pd.DatetimeIndex:
    has_offset = text.str.contains(_OFFSET).to_numpy(dtype=bool)
    if has_offset.any() and not has_offset.all():
        naive, aware = int(np.flatnonzero(~has_offset)[0]), int(np.flatnonzero(has_offset)[0])
        raise DataError(
            f"{path}: timestamps mix timezone notations: {text.iloc[naive]!r} in {_line(naive)} "
            f"has no UTC offset, {text.iloc[aware]!r} in {_line(aware)} has one; use one notation"
        )
    parsed = pd.to_datetime(text, utc=True, format="ISO8601", errors="coerce")
    bad = parsed.isna().to_numpy()
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise DataError(
            f"{path}: timestamp {text.iloc[row]!r} in {_line(row)} is not an ISO 8601 date-time "
            f"or epoch seconds/milliseconds (for example 2024-01-01 00:00:00 or 1704067200)"
        )
    return pd.DatetimeIndex(parsed, name="timestamp")


def _parse_timestamps(text: pd.Series, path: Path) -> pd.DatetimeIndex:
    text = text.fillna("").astype(str).str.strip()
    empty = (text == "").to_numpy()
    if empty.any():
        row = int(np.flatnonzero(empty)[0])
        raise DataError(f"{path}: timestamp is empty in {_line(row)}")
    numeric = text.str.match(_NUMBER).to_numpy(dtype=bool)
    if numeric.all():
        return _parse_epoch(text, path)
    if numeric.any():
        num, iso = int(np.flatnonzero(numeric)[0]), int(np.flatnonzero(~numeric)[0])
        raise DataError(
            f"{path}: timestamps mix epoch numbers ({text.iloc[num]!r} in {_line(num)}) and "
            f"date-time text ({text.iloc[iso]!r} in {_line(iso)}); use one notation"
        )
    return _parse_iso(text, path)


def _parse_values(raw: pd.DataFrame, path: Path) -> pd.DataFrame:
    out = {}
    for column in OHLCV_COLUMNS:
        values = pd.to_numeric(raw[column], errors="coerce")
        text = raw[column].fillna("").astype(str).str.strip()
        unparseable = (values.isna() & ~text.str.lower().isin(MISSING)).to_numpy()
        if unparseable.any():
            row = int(np.flatnonzero(unparseable)[0])
            comma = (
                "; decimal commas are not read: use '.' as the decimal separator"
                if re.fullmatch(r"[+-]?\d+,\d+", text.iloc[row])
                else ""
            )
            raise DataError(
                f"{path}: {column} {text.iloc[row]!r} in {_line(row)} is not a number{comma}"
            )
        out[column] = values.to_numpy(dtype="float64")
    return pd.DataFrame(out)


def _delimiter(path: Path) -> str:
    """The delimiter of the header line: the candidate that splits it into the most fields
    (commas when none splits it)."""
    try:
        with path.open(encoding="utf-8", errors="replace", newline="") as handle:
            header = handle.readline()
    except OSError:
        return ","
    counts = {d: header.count(d) for d in DELIMITERS}
    best = max(DELIMITERS, key=lambda d: counts[d])  # ties: the earlier, commas first
    return best if counts[best] else ","


def read_candle_csv(path: str | Path) -> pd.DataFrame:
    """Read a candle CSV; raises DataError naming the file, the row and the problem."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"candle CSV {path} does not exist")
    if not path.is_file():
        raise DataError(f"candle CSV {path} is not a file")
    delimiter = _delimiter(path)
    try:
        raw = pd.read_csv(
            path, dtype=str, keep_default_na=False, skipinitialspace=True, sep=delimiter
        )
    except pd.errors.EmptyDataError:
        raise DataError(
            f"candle CSV {path} is empty; expected a header {','.join(REQUIRED)}"
        ) from None
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise DataError(f"candle CSV {path} could not be parsed as CSV: {exc}") from None

    raw.columns = [str(c).strip().lower() for c in raw.columns]
    missing = [c for c in REQUIRED if c not in raw.columns]
    if missing:
        raise DataError(
            f"candle CSV {path} lacks the column(s) {', '.join(missing)}; found "
            f"{', '.join(raw.columns)} (columns separated by {_DELIMITER_NAMES[delimiter]}); "
            f"expected {','.join(REQUIRED)} (extra columns are ignored; commas, semicolons, "
            "tabs or '|' between them)"
        )
    if raw.empty:
        raise DataError(f"candle CSV {path} has a header but no rows")

    index = _parse_timestamps(raw["timestamp"], path)
    frame = _parse_values(raw, path)
    frame.index = index

    ts = index.asi8
    same = np.flatnonzero(ts[1:] == ts[:-1]) + 1  # rows repeating the previous timestamp
    if len(same):
        values = frame.to_numpy()
        conflicting = [
            r for r in same if not np.array_equal(values[r], values[r - 1], equal_nan=True)
        ]
        if conflicting:
            r = int(conflicting[0])
            raise DataError(
                f"{path}: timestamp {index[r].isoformat()} appears twice with different values "
                f"({_line(r - 1)} and {_line(r)}); remove one"
            )
        keep = np.ones(len(frame), dtype=bool)
        keep[same] = False
        kept_rows = np.flatnonzero(keep)
        frame, ts = frame.iloc[kept_rows], ts[kept_rows]
    else:
        kept_rows = np.arange(len(frame))
    backwards = np.flatnonzero(ts[1:] <= ts[:-1])
    if len(backwards):
        at = int(backwards[0]) + 1
        row, prev = int(kept_rows[at]), int(kept_rows[at - 1])
        raise DataError(
            f"{path}: timestamps are not sorted: {frame.index[at].isoformat()} in {_line(row)} "
            f"is not after {frame.index[at - 1].isoformat()} in {_line(prev)}; sort the file by time"
        )
    frame = frame.copy()
    frame["synthetic"] = False
    return frame
