"""`candlecast backtest`: the walk-forward backtest alone, for every configured series. It
trains fresh networks (nothing is registered or published), prints the leaderboard (the CSV and
JSON also hold MAE, RMSE and interval widths) and writes it as JSON and CSV."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import pandas as pd
import typer
from rich.table import Table

from candlecast.cli.app import (
    ConfigOption,
    CsvOption,
    ExchangeOption,
    HomeOption,
    SetOption,
    SourceOption,
    SymbolsOption,
    TimeframeOption,
    UrlOption,
    app,
    build,
    console,
    quiet_runtime,
)
from candlecast.core.errors import CandlecastError

COLUMNS = (
    ("family", "family", None),
    ("MASE", "mase", 3),
    ("MAE/naive", "mae_rel", 3),
    ("sMAPE %", "smape", 3),
    ("direction", "directional_accuracy", 3),
    ("cov 80", "coverage_80", 3),
    ("cov 95", "coverage_95", 3),
    ("fit s", "fit_seconds", 2),
)


@app.command()
def backtest(
    config: ConfigOption = None,
    sets: SetOption = None,
    source: SourceOption = None,
    csv: CsvOption = None,
    symbols: SymbolsOption = None,
    timeframe: TimeframeOption = None,
    exchange: ExchangeOption = None,
    exchange_url: UrlOption = None,
    data_home: HomeOption = None,
    out: Annotated[
        Path | None,
        typer.Option(
            help="Folder for leaderboard.json/.csv (default: data_home/backtests/<time>)."
        ),
    ] = None,
) -> None:
    """Backtest every cell and baseline on the same walk-forward folds; print the leaderboard."""
    quiet_runtime()
    cfg = build(
        config, sets, source=source, csv=csv, symbols=symbols, timeframe=timeframe,
        exchange=exchange, exchange_url=exchange_url, data_home=data_home,
    )  # fmt: skip
    from candlecast.core.pipeline.candidates import backtest_candidates
    from candlecast.core.pipeline.evaluate import evaluate, fold_spec
    from candlecast.core.pipeline.prepare import history_start, prepare_series
    from candlecast.flows.runtime import open_store, resolve_plugins

    plugins = resolve_plugins(cfg)
    plugins.source.check(cfg.source)
    store = open_store(cfg.storage.resolved_database_url)
    spec = fold_spec(cfg)
    boards = []
    for key in plugins.source.series(cfg.source):
        with console.status(f"{key}: fetching"):
            plugins.source.sync(cfg.source, key, store.candles)
        last = store.candles.last_timestamp(key)
        start = history_start(cfg, last) if last is not None else None
        prepared = prepare_series(store.candles.load(key, start=start), key, cfg)
        with console.status(f"{key}: backtesting {len(cfg.model.cells)} cell(s) and baselines"):
            candidates = backtest_candidates(prepared, plugins.cells, cfg, spec)
            evaluation = evaluate(prepared, candidates, cfg, spec)
        board = evaluation.board.reset_index()
        board.insert(0, "series", str(key))
        board["champion"] = board["model"] == evaluation.choice.model
        boards.append(board)
        _print(str(key), board, evaluation.choice.reason)
    if not boards:
        raise CandlecastError("no series configured (source.symbols is empty)")
    folder = out or cfg.storage.data_home / "backtests" / pd.Timestamp.now(tz="UTC").strftime(
        "%Y%m%dT%H%M%SZ"
    )
    folder.mkdir(parents=True, exist_ok=True)
    table = pd.concat(boards, ignore_index=True)
    table.to_csv(folder / "leaderboard.csv", index=False)
    (folder / "leaderboard.json").write_text(
        json.dumps(json.loads(table.to_json(orient="records")), indent=1), encoding="utf-8"
    )
    console.print(f"wrote {folder / 'leaderboard.csv'} and leaderboard.json")


def _print(series: str, board: pd.DataFrame, reason: str) -> None:
    table = Table(title=f"{series} — backtest leaderboard", caption=reason)
    table.add_column("model")
    for title, _, _ in COLUMNS:
        table.add_column(title, justify="right")
    for row in board.to_dict("records"):
        cells = []
        for _, column, digits in COLUMNS:
            value = row.get(column)
            cells.append(
                str(value) if digits is None else "–" if pd.isna(value) else f"{value:.{digits}f}"
            )
        name = f"[bold green]{row['model']} ★[/]" if row["champion"] else row["model"]
        table.add_row(name, *cells)
    console.print(table)
