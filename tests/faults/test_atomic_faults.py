"""What a killed or failing writer leaves in a folder, and who cleans it: temporary names that
say whose they are, the sweep of a dead writer's leftovers, a model save on a full disk."""

from __future__ import annotations

import os
import subprocess
import time

import pytest

from candlecast.core.errors import ModelError
from candlecast.core.models.bundle import save_bundle
from candlecast.core.storage.atomic import atomic_dir, atomic_path, sweep_stale_temps, temp_sibling

pytestmark = pytest.mark.faults


def _dead_pid() -> int:
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


def _foreign(target, pid: int, kind: str = "tmp", host: str | None = None):
    """The temporary name another writer (pid, host) would use for `target`."""
    mine = temp_sibling(target, kind)
    name = mine.name.replace(f".{os.getpid()}-", f".{pid}-")
    if host is not None:
        name = name.replace(name.split(".")[-2].split("-", 1)[1], host)
    return target.with_name(name)


def test_temporary_names_carry_the_writer(tmp_path):
    name = temp_sibling(tmp_path / "forecasts.csv").name
    assert name.startswith(f".forecasts.csv.{os.getpid()}-") and name.endswith(".tmp")


def test_the_sweep_removes_dead_writers_leftovers_and_nothing_else(tmp_path):
    target = tmp_path / "forecasts.csv"
    target.write_text("the current file")
    dead = _foreign(target, _dead_pid())
    dead.write_text("half a file")
    live = temp_sibling(target)  # this process: still writing
    live.write_text("being written")
    elsewhere = _foreign(target, 1, host="another-machine")  # not ours to judge...
    elsewhere.write_text("another machine's")
    old_elsewhere = _foreign(tmp_path / "latest.json", 1, host="another-machine")
    old_elsewhere.write_text("untouched for a day")
    day_ago = time.time() - 86400
    os.utime(old_elsewhere, (day_ago, day_ago))  # ...unless it is long abandoned
    folder_left = _foreign(tmp_path / "run-1", _dead_pid())
    folder_left.mkdir()
    (folder_left / "forecasts.csv").write_text("x")
    keep = tmp_path / "notes.tmp.txt"
    keep.write_text("a user's file")

    swept = sweep_stale_temps(tmp_path)
    assert sorted(p.name for p in swept) == sorted(
        [dead.name, old_elsewhere.name, folder_left.name]
    )
    assert not dead.exists() and not old_elsewhere.exists() and not folder_left.exists()
    assert live.exists() and elsewhere.exists() and keep.exists()
    assert target.read_text() == "the current file"


def test_a_kill_between_the_two_renames_of_a_folder_puts_the_previous_one_back(tmp_path):
    target = tmp_path / "latest"
    old = _foreign(target, _dead_pid(), kind="old")  # the target was moved aside, then: kill
    old.mkdir()
    (old / "manifest.json").write_text("previous")
    sweep_stale_temps(tmp_path)
    assert (target / "manifest.json").read_text() == "previous" and not old.exists()


def test_the_next_atomic_write_into_a_folder_sweeps_it(tmp_path):
    leftover = _foreign(tmp_path / "a.csv", _dead_pid())
    leftover.write_text("half")
    with atomic_path(tmp_path / "b.csv") as tmp:
        tmp.write_text("b")
    assert not leftover.exists()
    run_left = _foreign(tmp_path / "runs" / "r1", _dead_pid())
    run_left.mkdir(parents=True)
    with atomic_dir(tmp_path / "runs" / "r2") as tmp:
        (tmp / "x").write_text("x")
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == ["r2"]


class _Model:
    """Writes half a Keras file, then the disk is full."""

    def save(self, path):
        with open(path, "wb") as handle:
            handle.write(b"PK half a zip")
        raise OSError(28, "No space left on device")


def test_a_model_save_on_a_full_disk_is_a_model_error_and_leaves_nothing(tmp_path):
    target = tmp_path / "models" / "m1"
    stale = _foreign(target.with_suffix(".keras"), _dead_pid())
    stale.parent.mkdir(parents=True)
    stale.write_text("a killed save's leftover")
    with pytest.raises(ModelError) as full:
        save_bundle(target, _Model(), {"transform": "log_return"})
    assert "could not save model" in str(full.value)
    assert "No space left on device" in str(full.value)
    assert list((tmp_path / "models").iterdir()) == []  # no half file, no leftover
