"""The only place candlecast's hooks are declared.

Every hook receives a `register` callback owned by the host (the llm pattern): the host knows
which plugin registered what, rejects duplicate names naming both plugins, and records where
each registration came from. A hook returns nothing; it calls `register` once per thing.
Each hook is documented with a runnable example in docs/plugins.md (a test checks that).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pluggy

from candlecast.plugins import PROJECT

hookspec = pluggy.HookspecMarker(PROJECT)

Register = Callable[[Any], None]


@hookspec
def register_cells(register: Register) -> None:
    """Register recurrent cells.

    Called once, when the plugin manager first needs the cells. Call `register(cell)` for each
    cell; `cell` provides `name: str`, `description: str` and
    `build(request: CellRequest, cells: Mapping[str, Cell]) -> keras.layers.Layer`
    (see `candlecast.core.models.cell.Cell`). Names are unique across all plugins.
    """


@hookspec
def register_sources(register: Register) -> None:
    """Register candle sources.

    Called once, when the plugin manager first needs the sources. Call `register(source)` for
    each; `source` provides `name: str`, `description: str`,
    `series(config: SourceConfig) -> list[SeriesKey]`, `check(config: SourceConfig) -> None`
    (fail fast before any work) and
    `sync(config, key, store: CandleStore, progress=None) -> FetchReport` (store only what is
    new, page by page) (see `candlecast.plugins.sources.base.Source`).
    """


@hookspec
def register_publishers(register: Register) -> None:
    """Register publishers (where a run's forecasts, flags and metrics go).

    Called once, when the plugin manager first needs the publishers. Call `register(publisher)`
    for each; `publisher` provides `name: str`, `description: str` and
    `publish(results: RunResults, config: Config) -> PublishReport`
    (see `candlecast.plugins.publishers.base.Publisher`).
    """


@hookspec
def register_detectors(register: Register) -> None:
    """Register anomaly detectors.

    Called once, when the plugin manager first needs the detectors. Call `register(detector)`
    for each; `detector` provides `name: str`, `description: str`, `kinds: tuple[str, ...]`,
    optionally `settle: int` (later candles it needs before judging one; the newest `settle`
    candles are judged next run) and `detect(ctx: DetectionContext) -> list[Flag]`
    (see `candlecast.core.anomalies.detector`).
    """
