"""Per-series run locks in the database: one run processes a series at a time.

Table `series_locks`, one row per series being processed: which run holds it, the process
(`host:pid`), since when, and until when the lease is valid. A run takes the locks of all its
series (in sorted order, so two runs never deadlock) before it fetches anything, renews them
while it works (a heartbeat thread) and deletes them when it ends, however it ends.

A second run of a series waits up to `wait_s` seconds (it polls), then is refused with a
`SeriesLocked` error naming the series, the run holding it and since when. A lock whose holder
is gone is taken over at once when the holder was a process on this machine that no longer
runs (a SIGKILLed run), and by anyone once its lease has expired (`ttl_s` after the holder's
last heartbeat: a crashed machine).

Portable SQL only (SQLite and PostgreSQL): taking a free lock is an INSERT that does nothing on
conflict; taking over a stale one is an UPDATE that matches the exact row that was read
(compare and swap). Each statement is its own short transaction, so no write transaction is
held while waiting, and values are always bound parameters.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError

from candlecast.core.errors import StorageError
from candlecast.core.market.candles import as_utc
from candlecast.core.storage.schema import metadata

TS = sa.DateTime(timezone=True)

series_locks = sa.Table(
    "series_locks",
    metadata,
    sa.Column("series", sa.String(200), primary_key=True),
    sa.Column("run_id", sa.String(64), nullable=False),
    sa.Column("holder", sa.String(200), nullable=False),  # "host:pid" of the process
    sa.Column("acquired_at", TS, nullable=False),
    sa.Column("expires_at", TS, nullable=False),
)

_INSERT = {"sqlite": sqlite.insert, "postgresql": postgresql.insert}
log = logging.getLogger("candlecast.locks")


class SeriesLocked(StorageError):
    """Another run holds a series this run needs, and it did not let go in time."""


def this_holder() -> str:
    """`host:pid` of this process."""
    return f"{socket.gethostname()}:{os.getpid()}"


def holder_gone(holder: str) -> bool:
    """Whether `holder` (`host:pid`) is a process of this machine that no longer runs.

    A holder on another machine is never judged here (its lease expiry decides)."""
    host, _, pid_text = holder.rpartition(":")
    if host != socket.gethostname() or not pid_text.isdigit():
        return False
    pid = int(pid_text)
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # it runs, as another user
        return False
    return False


@dataclass(frozen=True)
class LockInfo:
    """One row of `series_locks`."""

    series: str
    run_id: str
    holder: str
    acquired_at: pd.Timestamp
    expires_at: pd.Timestamp

    @classmethod
    def from_row(cls, row: Any) -> LockInfo:
        return cls(
            row.series,
            row.run_id,
            row.holder,
            as_utc(row.acquired_at),
            as_utc(row.expires_at),
        )

    def stale_reason(self, now: pd.Timestamp) -> str | None:
        """Why this lock can be taken over (None: its holder may still be working)."""
        if self.expires_at <= now:
            return f"its lease expired at {self.expires_at.isoformat()}"
        if holder_gone(self.holder):
            return f"its process {self.holder} no longer runs"
        return None

    def describe(self) -> str:
        since = self.acquired_at.strftime("%Y-%m-%d %H:%M:%S UTC")
        return f"series {self.series} is being processed by run {self.run_id} ({self.holder}) since {since}"


def _now() -> pd.Timestamp:
    return pd.Timestamp.now(tz="UTC")


def _dt(ts: pd.Timestamp) -> Any:
    return ts.tz_convert("UTC").to_pydatetime()


class SeriesLocks:
    """The lock table of one database."""

    def __init__(self, engine: sa.Engine) -> None:
        dialect = engine.dialect.name
        if dialect not in _INSERT:
            raise StorageError(f"series locks support sqlite and postgresql, got {dialect!r}")
        self.engine = engine
        self._insert = _INSERT[dialect]

    def create(self) -> SeriesLocks:
        """Create the table where it is missing. Store.create() migrates it with the others;
        this covers a database migrated by a draft of revision 0001 that lacked it."""
        try:
            metadata.create_all(self.engine, tables=[series_locks], checkfirst=True)
        except SQLAlchemyError:  # another process created it at the same moment
            if not sa.inspect(self.engine).has_table("series_locks"):
                raise
        return self

    # ---- reading ----------------------------------------------------------------------------
    def get(self, series: str) -> LockInfo | None:
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.select(series_locks).where(series_locks.c.series == series)
            ).first()
        return None if row is None else LockInfo.from_row(row)

    def held(self) -> list[LockInfo]:
        """Every lock row, oldest first (`candlecast` operators: who holds what)."""
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(series_locks).order_by(series_locks.c.acquired_at))
            return [LockInfo.from_row(r) for r in rows]

    # ---- one attempt ------------------------------------------------------------------------
    def try_acquire(
        self, series: str, run_id: str, ttl_s: float, holder: str | None = None
    ) -> tuple[bool, LockInfo | None, str | None]:
        """One attempt: (taken, the lock that is in the way, why a stale lock was taken over).

        Taking the lock again for the same run and holder renews it."""
        holder = holder or this_holder()
        now = _now()
        expires = now + pd.Timedelta(seconds=ttl_s)
        row = {
            "series": series,
            "run_id": run_id,
            "holder": holder,
            "acquired_at": _dt(now),
            "expires_at": _dt(expires),
        }
        insert: Any = self._insert(series_locks)  # the dialect's Insert (on_conflict_*)
        with self.engine.begin() as conn:
            inserted = conn.execute(
                insert.values(row).on_conflict_do_nothing(index_elements=["series"])
            ).rowcount
        if inserted == 1:
            return True, None, None
        current = self.get(series)
        if current is None:  # released between the two statements: try again at once
            return self.try_acquire(series, run_id, ttl_s, holder)
        if current.run_id == run_id and current.holder == holder:
            self._renew([series], run_id, holder, ttl_s)
            return True, None, None
        reason = current.stale_reason(now)
        if reason is None:
            return False, current, None
        with self.engine.begin() as conn:  # compare and swap on the row just read
            swapped = conn.execute(
                series_locks.update()
                .where(
                    series_locks.c.series == series,
                    series_locks.c.run_id == current.run_id,
                    series_locks.c.holder == current.holder,
                    series_locks.c.expires_at == _dt(current.expires_at),
                )
                .values(row)
            ).rowcount
        if swapped == 1:
            return True, None, f"took over the lock of run {current.run_id}: {reason}"
        return False, self.get(series) or current, None

    def _renew(self, series: list[str], run_id: str, holder: str, ttl_s: float) -> int:
        expires = _dt(_now() + pd.Timedelta(seconds=ttl_s))
        with self.engine.begin() as conn:
            return conn.execute(
                series_locks.update()
                .where(
                    series_locks.c.series.in_(series),
                    series_locks.c.run_id == run_id,
                    series_locks.c.holder == holder,
                )
                .values(expires_at=expires)
            ).rowcount

    def release(self, series: Iterable[str], run_id: str, holder: str | None = None) -> int:
        """Delete this run's locks (never another run's); returns how many were held."""
        series = list(series)
        if not series:
            return 0
        with self.engine.begin() as conn:
            return conn.execute(
                series_locks.delete().where(
                    series_locks.c.series.in_(series),
                    series_locks.c.run_id == run_id,
                    series_locks.c.holder == (holder or this_holder()),
                )
            ).rowcount

    # ---- waiting ----------------------------------------------------------------------------
    def acquire(
        self,
        series: Iterable[str],
        run_id: str,
        *,
        wait_s: float,
        ttl_s: float,
        poll_s: float = 1.0,
        on_wait: Callable[[LockInfo, float], None] | None = None,
        on_takeover: Callable[[str, str], None] | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> Lease:
        """Take every lock of `series` for `run_id`, waiting up to `wait_s` seconds for each
        held one (`on_wait(lock, wait_s)` is called once per lock waited for); a lease that
        renews itself until released. Raises SeriesLocked (and holds nothing) on timeout."""
        names = sorted(set(series))
        holder = this_holder()
        deadline = time.monotonic() + max(0.0, wait_s)
        taken: list[str] = []
        try:
            for name in names:
                announced = False
                while True:
                    ok, blocking, takeover = self.try_acquire(name, run_id, ttl_s, holder)
                    if ok:
                        if takeover:
                            log.warning("%s: %s", name, takeover)
                            if on_takeover is not None:
                                on_takeover(name, takeover)
                        taken.append(name)
                        break
                    assert blocking is not None
                    left = deadline - time.monotonic()
                    if left <= 0:
                        waited = f"waited {wait_s:g} s" if wait_s > 0 else "not waiting"
                        raise SeriesLocked(
                            f"{blocking.describe()}; {waited} (storage.lock_wait_s), run {run_id} "
                            f"is refused. Try again when that run has finished; if it died, its "
                            f"lock expires at {blocking.expires_at.strftime('%Y-%m-%d %H:%M:%S UTC')}"
                        )
                    if not announced:
                        announced = True
                        if on_wait is not None:
                            on_wait(blocking, wait_s)
                    sleep(min(poll_s, max(left, 0.01)))
        except SQLAlchemyError as exc:
            self._release_quietly(taken, run_id, holder)
            reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
            raise StorageError(
                f"could not take the series locks of run {run_id} in database "
                f"{self.engine.url.render_as_string(hide_password=True)}: {reason}"
            ) from None
        except BaseException:
            self._release_quietly(taken, run_id, holder)
            raise
        return Lease(self, taken, run_id, holder, ttl_s)

    def _release_quietly(self, series: list[str], run_id: str, holder: str) -> None:
        try:
            self.release(series, run_id, holder)
        except SQLAlchemyError as exc:  # they expire on their own
            log.warning("could not release the locks of run %s: %s", run_id, exc)


class Lease:
    """Locks held by one run: renewed every `ttl_s / 4` seconds by a daemon thread until
    `release()` (or the end of a `with` block)."""

    def __init__(
        self, locks: SeriesLocks, series: list[str], run_id: str, holder: str, ttl_s: float
    ) -> None:
        self.locks, self.series, self.run_id, self.holder, self.ttl_s = (
            locks,
            series,
            run_id,
            holder,
            ttl_s,
        )
        self.lost: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._heartbeat, name=f"candlecast-lease-{run_id}", daemon=True
        )
        if series:
            self._thread.start()

    def _heartbeat(self) -> None:
        interval = max(0.05, self.ttl_s / 4)
        while not self._stop.wait(interval):
            try:
                renewed = self.locks._renew(self.series, self.run_id, self.holder, self.ttl_s)
            except SQLAlchemyError as exc:
                log.warning("run %s could not renew its series locks: %s", self.run_id, exc)
                continue
            if renewed < len(self.series):
                lost = [s for s in self.series if self._lost(s)]
                if lost and lost != self.lost:
                    self.lost = lost
                    log.error(
                        "run %s lost the lock of %s (its lease expired and another run took it)",
                        self.run_id,
                        ", ".join(lost),
                    )

    def _lost(self, series: str) -> bool:
        current = self.locks.get(series)
        return current is None or (current.run_id, current.holder) != (self.run_id, self.holder)

    def release(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
        self.locks._release_quietly(self.series, self.run_id, self.holder)

    def __enter__(self) -> Lease:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
