"""Pause points for the fault-injection tests (tests/faults/): inert unless an environment
variable names one.

    CANDLECAST_FAULTPOINT=replace:*/outputs/runs/*   the point (and a glob of its detail)
    CANDLECAST_FAULTPOINT_FILE=/tmp/marker           written when the point is reached

The first time a process reaches the named point it writes `<point> <detail> <pid>` to the marker file and then
waits while that file exists (at most 10 minutes): the test SIGKILLs it there, or deletes the
file to let it go on. Points in the code:

    replace  <target path>   just before a finished temporary file or folder is renamed over
                             its target (core/storage/atomic.py, core/models/bundle.py): the content is
                             complete but not yet visible
"""

from __future__ import annotations

import fnmatch
import os
import threading
import time
from pathlib import Path

POINT_ENV = "CANDLECAST_FAULTPOINT"
FILE_ENV = "CANDLECAST_FAULTPOINT_FILE"
MAX_PAUSE_S = 600.0
_lock = threading.Lock()
_paused = threading.Event()  # a process pauses once


def reached(point: str, detail: object = "") -> None:
    """Pause here when CANDLECAST_FAULTPOINT names `point` (and its glob matches `detail`)."""
    wanted = os.environ.get(POINT_ENV)
    if not wanted:
        return
    name, _, pattern = wanted.partition(":")
    if name != point or (pattern and not fnmatch.fnmatch(str(detail), pattern)):
        return
    marker = Path(os.environ.get(FILE_ENV) or f"candlecast-faultpoint-{os.getpid()}")
    with _lock:
        if _paused.is_set():
            return
        _paused.set()
        marker.write_text(f"{point} {detail} {os.getpid()}\n", encoding="utf-8")
    deadline = time.monotonic() + MAX_PAUSE_S
    while marker.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
