"""`candlecast report`: the recorded runs, one run's summary in the terminal, and its HTML report.

    candlecast report                 # the newest runs (and a refreshed reports/index.html)
    candlecast report --latest        # the newest run: champions, forecasts, flags; its report
    candlecast report --run ID --out report.html --open

A run's report is the file its flow run wrote (`<reports_dir>/<run_id>.html`, by default under
`<data_home>/reports/`; `storage.reports_dir` may be an fsspec URL such as s3://...); when that
file is missing, or with `--refresh`, it is rebuilt from the database alone.
"""

from __future__ import annotations

import shutil
import webbrowser
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from candlecast.cli.app import console
from candlecast.cli.options import (
    ConfigOption,
    HomeOption,
    SetOption,
    build_config,
    existing_store,
)
from candlecast.core.errors import CandlecastError, ConfigError
from candlecast.core.pipeline.rebuild import index_entries, results_from_store
from candlecast.core.report import (
    IndexEntry,
    publish_report,
    render_run_report,
    report_name,
    write_html,
    write_index,
)
from candlecast.core.report.files import linked
from candlecast.core.report.numbers import price_text
from candlecast.core.report.timefmt import show
from candlecast.core.results import RunResults
from candlecast.core.storage.location import Location
from candlecast.core.storage.store import Store

RunOption = Annotated[str | None, typer.Option("--run", help="The run id to report on.")]
LatestOption = Annotated[bool, typer.Option("--latest", help="Report on the newest run.")]
OutOption = Annotated[
    Path | None,
    typer.Option("--out", help="Write the HTML here (default: data_home/reports/<run>.html)."),
]
OpenOption = Annotated[bool, typer.Option("--open", help="Open the HTML in a web browser.")]
RefreshOption = Annotated[
    bool, typer.Option("--refresh", help="Rebuild the HTML from the database even if it exists.")
]
LimitOption = Annotated[int, typer.Option("--limit", min=1, help="How many runs to list.")]


def report(
    config: ConfigOption = None,
    sets: SetOption = None,
    data_home: HomeOption = None,
    run: RunOption = None,
    latest: LatestOption = False,
    out: OutOption = None,
    open_: OpenOption = False,
    refresh: RefreshOption = False,
    limit: LimitOption = 20,
) -> None:
    """List the recorded runs, or print one run's summary and write its HTML report."""
    if run is not None and latest:
        raise ConfigError("--run and --latest both name a run: give one of them")
    cfg = build_config(config, sets, data_home=data_home)
    reports = cfg.storage.reports
    folder: Path | Location = reports.path if reports.is_local else reports
    store = existing_store(cfg)
    try:
        if run is None and not latest:
            if out is not None:
                raise ConfigError("--out needs a run: add --run ID or --latest")
            entries = linked(index_entries(store.engine, limit), folder)
            _print_runs(entries, store.display_url)
            if entries:
                index = write_index(folder, index_entries(store.engine))
                console.print(f"index: {index}")
                if open_:
                    _open(index)
            return
        run_id = run if run is not None else store.runs.latest_run_id()
        if run_id is None:
            raise CandlecastError(f"no runs recorded in {store.display_url} yet (candlecast run)")
        report_name(run_id)  # a run id that cannot be a file name fails before any work
        path = _write_html(store, run_id, folder, out, refresh)
        _print_run(results_from_store(store, run_id, history=False))
        console.print(f"report: {path}")
        if open_:
            _open(path)
    finally:
        store.close()


def _open(path: Path | Location) -> None:
    if isinstance(path, Location):
        console.print(f"{path} is remote: open it from the store, or use --out FILE --open")
        return
    webbrowser.open(path.resolve().as_uri())


def _write_html(
    store: Store, run_id: str, folder: Path | Location, out: Path | None, refresh: bool
) -> Path | Location:
    """The run's report where asked: the file the run wrote when it exists (copied for
    `--out`), else rebuilt from the database."""
    made = folder / report_name(run_id)
    if made.is_file() and not refresh:
        if out is None:
            return made
        out.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(made, Location):
            out.write_bytes(made.read_bytes())
        else:
            shutil.copyfile(made, out)
        return out
    results = results_from_store(store, run_id)
    if out is not None:
        return write_html(out, render_run_report(results))
    return publish_report(results, folder, index_entries(store.engine))


def _print_runs(entries: list[IndexEntry], where: str) -> None:
    if not entries:
        console.print(f"no runs recorded in {where} yet (candlecast run)")
        return
    table = Table(title=f"candlecast runs in {where}, newest first")
    for column in ("run", "started (UTC)", "status", "series: champions", "report"):
        table.add_column(column, overflow="fold")
    for entry in entries:
        series = "\n".join(
            f"{s.series}: {'[red]failed[/]' if s.error else s.champion or '–'}"  # per target
            for s in entry.series
        )
        style = {"ok": "green", "partial": "yellow", "failed": "red"}.get(entry.status, "")
        table.add_row(
            entry.run_id,
            _when(entry.started),
            f"[{style}]{entry.status}[/]" if style else entry.status,
            series or "–",
            "✓" if entry.report else "–",
        )
    console.print(table)


def _when(value: object) -> str:
    """`2024-01-26 13:00` (the column header says UTC)."""
    return show(value).removesuffix(" UTC")


def _print_run(results: RunResults) -> None:
    console.print(
        f"[bold]run {results.run_id}[/] — {results.status}, started {show(results.started)}, "
        f"config {results.config_hash}"
    )
    for outcome in results.series:
        console.rule(outcome.id)
        if outcome.error:
            console.print(f"[red]failed:[/] {outcome.error}")
            continue
        for target in outcome.targets.values():
            if target.error:
                console.print(f"{target.target}: [red]failed:[/] {target.error}")
                continue
            console.print(
                f"{target.target}: champion [bold]{target.champion}[/]: {target.champion_reason}"
            )
            forecast = target.champion_forecast()
            if forecast is None or forecast.empty:
                continue
            table = Table(
                title=f"{target.target}: next {len(forecast)} candle(s) from {show(outcome.origin)}"
            )
            for column in ("step", "time (UTC)", "forecast", "80% interval", "95% interval"):
                table.add_column(column, justify="left" if column == "time (UTC)" else "right")
            for row in forecast.to_dict("records"):
                table.add_row(
                    str(row["step"]),
                    _when(row["target_time"]),
                    price_text(row["value"]),
                    f"{price_text(row.get('lower_80'))}–{price_text(row.get('upper_80'))}",
                    f"{price_text(row.get('lower_95'))}–{price_text(row.get('upper_95'))}",
                )
            console.print(table)
        kinds: dict[str, int] = {}
        for flag in outcome.flags:
            kinds[flag.kind] = kinds.get(flag.kind, 0) + 1
        detail = ", ".join(f"{n} {kind}" for kind, n in sorted(kinds.items()))
        console.print(f"{len(outcome.flags)} anomaly flag(s)" + (f": {detail}" if detail else ""))
