"""Two runs of the same series at once: the per-series locks in the database (SQLite and
PostgreSQL). One waits or is refused with a message naming the series, the run and since when;
stale locks of dead runs are taken over; the table is left as it was."""

from __future__ import annotations

import itertools
import multiprocessing
import socket
import subprocess
import threading
import time

import pandas as pd
import pytest

from candlecast.core.storage.engine import make_engine
from candlecast.core.storage.locks import SeriesLocked, SeriesLocks, series_locks, this_holder
from candlecast.core.storage.store import Store

pytestmark = pytest.mark.faults

BTC, ETH = "binance:BTC/USDT:1h", "binance:ETH/USDT:1h"


@pytest.fixture
def locks(db_url):
    store = Store(db_url).create()
    try:
        yield SeriesLocks(store.engine)
    finally:
        store.close()


def _dead_pid() -> int:
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


def _rows(locks: SeriesLocks) -> list[tuple[str, str, str]]:
    return sorted((lock.series, lock.run_id, lock.holder) for lock in locks.held())


def test_a_second_run_is_refused_naming_the_series_the_run_and_since_when(locks):
    with locks.acquire([BTC], "run-a", wait_s=0, ttl_s=60):
        before = locks.get(BTC)
        with pytest.raises(SeriesLocked) as refused:
            locks.acquire([BTC], "run-b", wait_s=0, ttl_s=60)
        message = str(refused.value)
        assert f"series {BTC} is being processed by run run-a ({this_holder()}) since " in message
        assert before.acquired_at.strftime("%Y-%m-%d %H:%M:%S UTC") in message
        assert "run run-b is refused" in message and "storage.lock_wait_s" in message
        assert _rows(locks) == [(BTC, "run-a", this_holder())]  # nothing of run b
    assert locks.held() == []


def test_a_second_run_waits_and_goes_on_when_the_first_releases(locks):
    first = locks.acquire([BTC, ETH], "run-a", wait_s=0, ttl_s=60)
    waits = []
    threading.Timer(0.6, first.release).start()
    started = time.monotonic()
    with locks.acquire(
        [ETH, BTC], "run-b", wait_s=30, ttl_s=60, poll_s=0.05, on_wait=lambda *a: waits.append(a)
    ):
        assert time.monotonic() - started >= 0.5
        assert _rows(locks) == [(BTC, "run-b", this_holder()), (ETH, "run-b", this_holder())]
    assert len(waits) == 1 and waits[0][0].run_id == "run-a" and waits[0][1] == 30
    assert locks.held() == []


def test_a_refused_run_keeps_none_of_the_locks_it_had_already_taken(locks):
    with locks.acquire([ETH], "run-a", wait_s=0, ttl_s=60):
        with pytest.raises(SeriesLocked, match=f"series {ETH} is being processed by run run-a"):
            locks.acquire([BTC, ETH], "run-b", wait_s=0.2, ttl_s=60, poll_s=0.05)
        assert _rows(locks) == [(ETH, "run-a", this_holder())]  # BTC was taken, then let go


@pytest.mark.parametrize("stale", ["dead process on this machine", "expired lease"])
def test_a_stale_lock_is_taken_over_at_once(locks, stale):
    now = pd.Timestamp.now(tz="UTC")
    if stale == "expired lease":  # a machine that crashed: its pid means nothing here
        holder, expires = "another-machine:1", now - pd.Timedelta(seconds=1)
    else:  # SIGKILLed on this machine: the lease would still run for an hour
        holder, expires = f"{socket.gethostname()}:{_dead_pid()}", now + pd.Timedelta(hours=1)
    with locks.engine.begin() as conn:
        conn.execute(
            series_locks.insert().values(
                series=BTC,
                run_id="crashed",
                holder=holder,
                acquired_at=(now - pd.Timedelta(hours=2)).to_pydatetime(),
                expires_at=expires.to_pydatetime(),
            )
        )
    notes = []
    with locks.acquire(
        [BTC], "run-b", wait_s=0, ttl_s=60, on_takeover=lambda s, n: notes.append((s, n))
    ):
        assert _rows(locks) == [(BTC, "run-b", this_holder())]
    assert notes and notes[0][0] == BTC and "took over the lock of run crashed" in notes[0][1]
    assert ("no longer runs" if "dead" in stale else "expired") in notes[0][1]
    assert locks.held() == []


def test_a_live_holder_on_another_machine_is_respected_until_its_lease_expires(locks):
    now = pd.Timestamp.now(tz="UTC")
    with locks.engine.begin() as conn:
        conn.execute(
            series_locks.insert().values(
                series=BTC,
                run_id="elsewhere",
                holder="another-machine:1",
                acquired_at=now.to_pydatetime(),
                expires_at=(now + pd.Timedelta(seconds=1.5)).to_pydatetime(),
            )
        )
    with pytest.raises(SeriesLocked, match="run elsewhere"):
        locks.acquire([BTC], "run-b", wait_s=0, ttl_s=60)
    with locks.acquire([BTC], "run-b", wait_s=10, ttl_s=60, poll_s=0.1):  # after expiry
        assert locks.get(BTC).run_id == "run-b"


def test_the_heartbeat_renews_the_lease_and_release_leaves_other_runs_alone(locks):
    with locks.acquire([BTC], "run-a", wait_s=0, ttl_s=0.4) as lease:
        first = locks.get(BTC).expires_at
        time.sleep(0.8)
        assert locks.get(BTC).expires_at > first  # renewed: it never expired under us
        assert lease.lost == []
        assert locks.release([BTC], "run-other") == 0  # not its lock
        assert locks.get(BTC).run_id == "run-a"


def _contend(url: str, worker: int, barrier, results) -> None:
    engine = make_engine(url)
    locks = SeriesLocks(engine)
    try:
        barrier.wait(timeout=60)
        for turn in range(2):
            with locks.acquire([BTC], f"w{worker}-{turn}", wait_s=60, ttl_s=30, poll_s=0.02):
                entered = time.time()
                time.sleep(0.05)
                results.put((entered, time.time(), worker))
    except Exception as exc:  # reported to the test
        results.put(("error", f"{type(exc).__name__}: {exc}", worker))
    finally:
        engine.dispose()


def test_processes_contending_for_a_series_hold_it_one_at_a_time(db_url, locks):
    workers = 4
    context = multiprocessing.get_context("fork")
    barrier, results = context.Barrier(workers), context.Queue()
    processes = [
        context.Process(target=_contend, args=(db_url, w, barrier, results)) for w in range(workers)
    ]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=120)
    spans = sorted(results.get(timeout=5) for _ in range(workers * 2))
    assert not [s for s in spans if s[0] == "error"], spans
    for (_, end, _), (start, _, _) in itertools.pairwise(spans):
        assert start >= end  # critical sections never overlap
    assert locks.held() == []
