"""One run per series at a time: the flow holds its series' database locks while it works
(core/storage/locks.py). A second run of a series waits up to `storage.lock_wait_s`, saying so
in the log and the CLI's progress, then is refused with a StorageError that names the series,
the run holding it and since when."""

from __future__ import annotations

from typing import Any

from candlecast.core.config import Config
from candlecast.core.storage.locks import Lease, LockInfo, SeriesLocks
from candlecast.flows import progress
from candlecast.flows.runtime import open_store, resolve_plugins


def series_lease(config: Config, run_id: str, log: Any) -> Lease:
    """Take the locks of every series `config` names for `run_id` (waiting, or refused); use
    it as a context manager: the locks are released when the block ends, however it ends."""
    keys = resolve_plugins(config).source.series(config.source)
    store = open_store(config.storage.resolved_database_url)

    def on_wait(lock: LockInfo, wait_s: float) -> None:
        message = f"{lock.describe()}; waiting up to {wait_s:g} s (storage.lock_wait_s)"
        log.warning(message)
        progress.emit(lock.series, "waiting", message)

    def on_takeover(series: str, note: str) -> None:
        log.warning("%s: %s", series, note)

    return (
        SeriesLocks(store.engine)
        .create()
        .acquire(
            [str(key) for key in keys],
            run_id,
            wait_s=config.storage.lock_wait_s,
            ttl_s=config.storage.lock_ttl_s,
            on_wait=on_wait,
            on_takeover=on_takeover,
        )
    )
