"""Progress events from tasks to whoever is watching (the CLI's rich display).

Tasks call `emit(series, stage, detail)`; the CLI sets a listener. Without a listener (a
deployment, a Dask worker) events only go to the log.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

Listener = Callable[[str, str, str], None]

_lock = threading.Lock()
_listener: Listener | None = None
log = logging.getLogger("candlecast.progress")


def set_listener(listener: Listener | None) -> None:
    global _listener
    with _lock:
        _listener = listener


def emit(series: str, stage: str, detail: str = "") -> None:
    log.debug("%s: %s %s", series, stage, detail)
    with _lock:
        listener = _listener
    if listener is not None:
        listener(series, stage, detail)
