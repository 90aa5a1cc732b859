"""Atomic file writes: write a temporary file beside the target, then rename over it.

A reader sees the old file or the new one, never half of one; a failure (disk full, a crash)
removes the temporary file and leaves the previous output as it was.

Temporary names are `.<name>.<pid>-<host>.tmp` (`.old` for a folder being replaced). A process
killed mid-write (SIGKILL, power loss) cannot remove its own: the next write into the same
folder does (`sweep_stale_temps`), for writers of this machine that no longer run, and for any
writer's once untouched for six hours (another machine sharing the folder).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from candlecast.core.errors import StorageError
from candlecast.core.storage import faultpoints

_HOST = re.sub(r"[^A-Za-z0-9]+", "-", socket.gethostname()).strip("-")[:40] or "host"
_TEMP = re.compile(
    r"^\.(?P<name>.+)\.(?P<pid>\d+)(?:-(?P<host>[A-Za-z0-9-]+))?\.(?P<kind>tmp|old)(?:\.\w+)?$"
)
STALE_AFTER_S = 6 * 3600.0


def temp_sibling(target: Path, kind: str = "tmp", suffix: str = "") -> Path:
    """This process's temporary name for `target`: `.<name>.<pid>-<host>.<kind><suffix>`."""
    target = Path(target)
    return target.with_name(f".{target.name}.{os.getpid()}-{_HOST}.{kind}{suffix}")


def _writer_gone(pid: int, host: str | None) -> bool:
    """Whether the writer `pid` was a process of this machine that no longer runs."""
    if host != _HOST or pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def sweep_stale_temps(folder: Path, *, older_than_s: float = STALE_AFTER_S) -> list[Path]:
    """Remove the temporary files and folders that killed writers left in `folder`; returns
    them. A `.old` folder whose target is missing (the kill fell between atomic_dir's two
    renames) is put back in place instead: it is the previous output."""
    swept: list[Path] = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return swept
    now = time.time()
    for entry in entries:
        match = _TEMP.match(entry.name)
        if match is None:
            continue
        try:
            age = now - entry.stat(follow_symlinks=False).st_mtime
        except OSError:
            continue
        if not (_writer_gone(int(match["pid"]), match["host"]) or age > older_than_s):
            continue
        path = Path(entry.path)
        if match["kind"] == "old" and not path.with_name(match["name"]).exists():
            with contextlib.suppress(OSError):
                os.replace(path, path.with_name(match["name"]))
                continue
        if entry.is_dir(follow_symlinks=False):
            shutil.rmtree(path, ignore_errors=True)
        else:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
        swept.append(path)
    return swept


@contextlib.contextmanager
def atomic_path(target: Path) -> Iterator[Path]:
    """Yields a temporary path; on success it replaces `target`, on failure it is removed."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    sweep_stale_temps(target.parent)
    tmp = temp_sibling(target)
    try:
        yield tmp
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        faultpoints.reached("replace", target)
        os.replace(tmp, target)
    except OSError as exc:
        raise StorageError(f"could not write {str(target)!r}: {exc.strerror or exc}") from exc
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def write_atomic(target: Path, writer: Callable[[Path], None]) -> Path:
    """`writer(tmp_path)` writes the content; the result lands at `target` atomically."""
    with atomic_path(target) as tmp:
        writer(tmp)
    return target


@contextlib.contextmanager
def atomic_dir(target: Path) -> Iterator[Path]:
    """A temporary folder that replaces `target` (a folder) when the block succeeds."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    sweep_stale_temps(target.parent)
    tmp = temp_sibling(target)
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        yield tmp
        old = temp_sibling(target, "old")
        faultpoints.reached("replace", target)
        if target.exists():
            os.replace(target, old)
        os.replace(tmp, target)
        shutil.rmtree(old, ignore_errors=True)
    except OSError as exc:
        raise StorageError(f"could not write {str(target)!r}: {exc.strerror or exc}") from exc
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
