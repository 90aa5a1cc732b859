"""`candlecast backtest`: the walk-forward backtest alone, for every configured series and
target. It trains fresh networks (nothing is registered or published), prints the leaderboards
(coverage and interval scores (IS) of the bands a scheduled run would have published at each
origin; the CSV and JSON also hold MAE, RMSE and interval widths) and writes them as JSON and
CSV."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import pandas as pd
import typer
from rich.table import Table

from candlecast.cli.app import console, quiet_runtime
from candlecast.cli.options import SeriesOptions, series_options
from candlecast.core.errors import CandlecastError

COLUMNS = (
    ("family", "family", None),
    ("MASE", "mase", 3),
    ("MAE/naive", "mae_rel", 3),
    ("sMAPE %", "smape", 3),
    ("direction", "directional_accuracy", 3),
    ("cov 80", "coverage_80", 3),
    ("IS 80", "winkler_80", 4),
    ("cov 95", "coverage_95", 3),
    ("IS 95", "winkler_95", 4),
    ("fit s", "fit_seconds", 2),
)


@series_options
def backtest(
    options: SeriesOptions,
    out: Annotated[
        Path | None,
        typer.Option(
            help="Folder for leaderboard.json/.csv (default: data_home/backtests/<time>)."
        ),
    ] = None,
) -> None:
    """Backtest every cell and baseline on the same walk-forward folds; print the leaderboard."""
    quiet_runtime()
    cfg = options.build()
    from candlecast.core.pipeline.candidates import backtest_candidates
    from candlecast.core.pipeline.evaluate import evaluate
    from candlecast.core.pipeline.plan import SeriesPlan
    from candlecast.core.pipeline.prepare import load_series
    from candlecast.flows.runtime import open_store, resolve_plugins

    plan = SeriesPlan.from_config(cfg)
    plugins = resolve_plugins(cfg)
    plugins.source.check(cfg.source)
    store = open_store(cfg.storage.resolved_database_url)
    boards = []
    for key in plugins.source.series(cfg.source):
        with console.status(f"{key}: fetching"):
            plugins.source.sync(cfg.source, key, store.candles)
        prepared = load_series(store.candles, key, plan)
        for target in plan.targets:
            with console.status(
                f"{key} {target}: backtesting {len(cfg.model.cells)} cell(s) and baselines"
            ):
                candidates = backtest_candidates(prepared, target, plugins.cells, cfg, plan.folds)
                evaluation = evaluate(prepared, target, candidates, cfg, plan)
            board = evaluation.board.reset_index()
            board.insert(0, "target", target)
            board.insert(0, "series", str(key))
            board["champion"] = board["model"] == evaluation.choice.model
            boards.append(board)
            _print(f"{key} {target}", board, evaluation.choice.reason)
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
