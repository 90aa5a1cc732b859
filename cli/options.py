"""The options that `run`, `fetch`, `backtest` and `serve` share, defined once: which
configuration file, `--set` overrides, and the seven that name the series (source, CSV, symbols,
timeframe, exchange, exchange URL, data home). `@series_options` adds them to a command and
hands them over as one `SeriesOptions`, whose `build()` makes the run's Config."""

from __future__ import annotations

import functools
import inspect
import typing
from collections.abc import Callable
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Annotated, Any

import typer

from candlecast.core.config import Config, load_config, parse_override

if typing.TYPE_CHECKING:
    from candlecast.core.storage.store import Store

ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="TOML config file (candlecast init writes one)."),
]
SetOption = Annotated[
    list[str] | None,
    typer.Option("--set", help="Override any setting: --set model.window=72 (repeatable)."),
]
HomeOption = Annotated[
    Path | None, typer.Option("--data-home", help="Folder for the database, models, outputs.")
]


@dataclass(frozen=True)
class SeriesOptions:
    """What the shared options say; `None` leaves the file's (or the default) setting."""

    config: ConfigOption = None
    sets: SetOption = None
    source: Annotated[str | None, typer.Option(help="Source plugin: ccxt or csv.")] = None
    csv: Annotated[
        Path | None, typer.Option("--csv", help="Candle CSV (implies --source csv).")
    ] = None
    symbols: Annotated[
        str | None, typer.Option(help="Comma-separated symbols, e.g. BTC/USDT,ETH/USDT.")
    ] = None
    timeframe: Annotated[str | None, typer.Option(help="Candle timeframe, e.g. 1h.")] = None
    exchange: Annotated[str | None, typer.Option(help="ccxt exchange id, e.g. binance.")] = None
    exchange_url: Annotated[
        str | None, typer.Option("--exchange-url", help="Override the exchange REST base URL.")
    ] = None
    data_home: HomeOption = None

    def build(self) -> Config:
        """The configuration: the file, the named options, then `--set` overrides (last
        wins); `./candlecast.toml` when no file is named and one is there."""
        return build_config(
            self.config,
            self.sets,
            source=self.source,
            csv=self.csv,
            symbols=self.symbols,
            timeframe=self.timeframe,
            exchange=self.exchange,
            exchange_url=self.exchange_url,
            data_home=self.data_home,
        )


def build_config(
    config: Path | None,
    sets: list[str] | None = None,
    *,
    source: str | None = None,
    csv: Path | None = None,
    symbols: str | None = None,
    timeframe: str | None = None,
    exchange: str | None = None,
    exchange_url: str | None = None,
    data_home: Path | None = None,
) -> Config:
    """The configuration from the file, the named options and `--set` overrides (last wins),
    with Prefect Secret references resolved."""
    from candlecast.cli.app import STATE
    from candlecast.flows.secret_refs import resolve_secrets

    overrides: dict[tuple[str, ...], Any] = {}
    if csv is not None:
        overrides[("source", "name")] = "csv"
        overrides[("source", "path")] = str(csv.resolve())
    named = {
        ("source", "name"): source,
        ("source", "symbols"): [s.strip() for s in symbols.split(",")] if symbols else None,
        ("source", "timeframe"): timeframe,
        ("source", "exchange"): exchange,
        ("source", "url"): exchange_url,
        ("storage", "data_home"): str(data_home) if data_home else None,
    }
    overrides |= {k: v for k, v in named.items() if v is not None}
    for text in sets or []:
        path, value = parse_override(text)
        overrides[tuple(path)] = value
    if config is None and Path("candlecast.toml").exists():
        config = Path("candlecast.toml")
    built = resolve_secrets(load_config(config, overrides))
    STATE["source"] = built.source.name  # main() names the offline way for exchanges only
    return built


def existing_store(config: Config) -> Store:
    """The store of `config`; a missing SQLite file is an error, not a new database."""
    from candlecast.core.errors import CandlecastError
    from candlecast.core.storage.store import Store

    url = config.storage.resolved_database_url
    if url.startswith("sqlite:///"):
        path = Path(url.removeprefix("sqlite:///"))
        if not path.exists():
            raise CandlecastError(
                f"no database at {path}: nothing has run with data home "
                f"{config.storage.data_home} yet (candlecast run), or pass --data-home/--config"
            )
    return Store(url).create()


_HINTS = typing.get_type_hints(SeriesOptions, include_extras=True)
_SHARED = tuple(
    inspect.Parameter(
        f.name, inspect.Parameter.KEYWORD_ONLY, default=f.default, annotation=_HINTS[f.name]
    )
    for f in fields(SeriesOptions)
)


def series_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """Give `command` the shared options: its signature gains them (Typer reads it), and it
    is called with them gathered into `options: SeriesOptions`."""
    signature = inspect.signature(command)
    hints = typing.get_type_hints(command, include_extras=True)
    own = [
        p.replace(kind=inspect.Parameter.KEYWORD_ONLY, annotation=hints.get(name, p.annotation))
        for name, p in signature.parameters.items()
        if name != "options"
    ]
    names = [p.name for p in _SHARED]

    @functools.wraps(command)
    def with_options(**kwargs: Any) -> Any:
        shared = SeriesOptions(**{name: kwargs.pop(name) for name in names})
        return command(options=shared, **kwargs)

    with_options.__signature__ = signature.replace(parameters=[*_SHARED, *own])  # type: ignore[attr-defined]
    with_options.__annotations__ = {p.name: p.annotation for p in (*_SHARED, *own)}
    return with_options
