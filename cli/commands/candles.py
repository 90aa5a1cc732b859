"""`candlecast candles`: what the candle store holds, and deleting a series' candles in a range.

    candlecast candles list
    candlecast candles delete --symbol BTC/USDT --from 2024-03-01 --to 2024-03-02      # a count
    candlecast candles delete --symbol BTC/USDT --from 2024-03-01 --to 2024-03-02 --yes
    candlecast candles delete --exchange csv --symbol BTC/USDT --off-grid --yes

`delete` counts first and deletes nothing without `--yes`. The series is `--exchange`,
`--symbol`, `--timeframe` (exchange and timeframe default to the configuration's); the range is
open times `--from` (inclusive) to `--to` (exclusive), UTC, or `--all`; `--off-grid` keeps to
the candles whose open time is not on the timeframe's grid (close-time stamps, for one).
"""

from __future__ import annotations

from typing import Annotated

import pandas as pd
import typer
from rich.table import Table

from candlecast.cli.app import console
from candlecast.cli.options import ConfigOption, HomeOption, SetOption, build_config, existing_store
from candlecast.core.errors import ConfigError
from candlecast.core.market.candles import SeriesKey
from candlecast.core.market.timeframes import grid_unit_ms
from candlecast.core.storage.candle_store import CandleStore

candles_app = typer.Typer(
    help="What the candle store holds; delete a series' candles in a range.",
    no_args_is_help=True,
)


def _when(stamp: pd.Timestamp | None) -> str:
    return "–" if stamp is None else f"{stamp:%Y-%m-%d %H:%M}"


def _moment(text: str | None, option: str) -> pd.Timestamp | None:
    """`--from` / `--to` as a UTC timestamp (naive text is UTC)."""
    if text is None:
        return None
    try:
        stamp = pd.Timestamp(text)
    except ValueError:
        stamp = None
    if stamp is None or stamp is pd.NaT:
        raise ConfigError(
            f"{option} {text!r} is not a date or date-time; use ISO 8601, e.g. 2024-03-01 or "
            "2024-03-01T12:00 (UTC unless it names an offset)"
        )
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


def _stored_series(store: CandleStore) -> str:
    keys = store.series()
    if not keys:
        return "the store holds no candles"
    return "stored series: " + ", ".join(f"{k} ({store.count(k)})" for k in keys)


@candles_app.command("list")
def list_candles(
    config: ConfigOption = None, sets: SetOption = None, data_home: HomeOption = None
) -> None:
    """Every stored series: how many candles, from when to when, how many off the grid."""
    cfg = build_config(config, sets, data_home=data_home)
    store = existing_store(cfg)
    try:
        keys = store.candles.series()
        if not keys:
            console.print(f"no candles stored in {store.display_url} yet (candlecast fetch)")
            return
        table = Table(title=f"candles in {store.display_url}")
        for column in ("series", "candles", "first (UTC)", "last (UTC)", "off the grid"):
            table.add_column(column, no_wrap=True)
        for key in keys:
            count, first, last = store.candles.span(key)
            off = store.candles.count(key, off_grid_unit_ms=grid_unit_ms(key.timeframe))
            table.add_row(
                str(key), str(count), _when(first), _when(last), f"[red]{off}[/]" if off else "0"
            )
        console.print(table)
    finally:
        store.close()


@candles_app.command("delete")
def delete_candles(
    symbol: Annotated[str, typer.Option("--symbol", help="The series' symbol, e.g. BTC/USDT.")],
    exchange: Annotated[
        str | None,
        typer.Option(
            help="The series' exchange label (default: the configuration's; csv "
            "for the csv source)."
        ),
    ] = None,
    timeframe: Annotated[
        str | None, typer.Option(help="The series' timeframe (default: the configuration's).")
    ] = None,
    from_: Annotated[
        str | None, typer.Option("--from", help="First open time to delete (UTC, inclusive).")
    ] = None,
    to: Annotated[
        str | None, typer.Option("--to", help="Open time to stop before (UTC, exclusive).")
    ] = None,
    all_: Annotated[bool, typer.Option("--all", help="Every candle of the series.")] = False,
    off_grid: Annotated[
        bool, typer.Option("--off-grid", help="Only candles whose open time is off the grid.")
    ] = False,
    yes: Annotated[bool, typer.Option("--yes", help="Delete (without it: count only).")] = False,
    config: ConfigOption = None,
    sets: SetOption = None,
    data_home: HomeOption = None,
) -> None:
    """Delete a series' candles in a range of open times; without --yes, count them only."""
    start, end = _moment(from_, "--from"), _moment(to, "--to")
    if all_ and (start is not None or end is not None):
        raise ConfigError("--all means every candle of the series: give it without --from/--to")
    if not (all_ or off_grid) and start is None and end is None:
        raise ConfigError(
            "name the candles to delete: --from and/or --to (open times, UTC; --to is "
            "exclusive), --off-grid, or --all for every candle of the series"
        )
    if start is not None and end is not None and start >= end:
        raise ConfigError(
            f"--from {start.isoformat()} is not before --to {end.isoformat()}: the range "
            "[from, to) is empty"
        )
    cfg = build_config(config, sets, data_home=data_home, exchange=exchange, timeframe=timeframe)
    key = SeriesKey(cfg.source.exchange, symbol, cfg.source.timeframe)
    unit = grid_unit_ms(key.timeframe) if off_grid else None
    store = existing_store(cfg)
    try:
        candles = store.candles
        total = candles.count(key)
        if total == 0:
            raise ConfigError(f"no candles are stored for {key}; {_stored_series(candles)}")
        count, first, last = candles.span(key, start, end, unit)
        what = (
            f"{'candles off the ' + key.timeframe + ' grid' if off_grid else 'candles'} of {key}"
            + (f" from {start:%Y-%m-%d %H:%M}" if start is not None else "")
            + (f" before {end:%Y-%m-%d %H:%M}" if end is not None else "")
        )
        if count == 0:
            _, oldest, newest = candles.span(key)
            console.print(
                f"no {what}: nothing to delete (the series holds {total}, open times "
                f"{_when(oldest)} .. {_when(newest)} UTC)",
                soft_wrap=True,
            )
            return
        span = f"open times {_when(first)} .. {_when(last)} UTC"
        if not yes:
            console.print(
                f"would delete {count} {what} ({span}; the series holds {total}); nothing was "
                "deleted: add --yes to delete them",
                soft_wrap=True,
            )
            return
        deleted = candles.delete(key, start, end, unit)
        left, _, newest = candles.span(key)
        console.print(
            f"deleted {deleted} {what} ({span}); {left} remain"
            + (f", the newest at {_when(newest)} UTC" if newest is not None else ""),
            soft_wrap=True,
        )
    finally:
        store.close()
