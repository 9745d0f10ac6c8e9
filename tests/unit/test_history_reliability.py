"""A killed process, two writers at once, a full disk: no image is lost or shown half-written."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from tests.helpers.images import save
from wuerstchen_desktop.core import atomicfile
from wuerstchen_desktop.core.errors import HistoryError, SaveError
from wuerstchen_desktop.core.imagefile.read import read_parameters
from wuerstchen_desktop.core.library.history import History

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL and fsync hooks are POSIX")

# A child that saves images and adds them to the history; with HANG_IN, it stops inside a save, at that
# point, and says so, so that the parent can kill it there.
CHILD = textwrap.dedent(
    """
    import os, sys, time
    import numpy as np
    from PIL import Image
    from wuerstchen_desktop.core.library.history import History
    from wuerstchen_desktop.core.imagefile.write import write_image
    from wuerstchen_desktop.core.imagefile.record import ImageRecord
    from wuerstchen_desktop.core.params import GenerationParams
    import wuerstchen_desktop.core.library.history as history_module

    out, index, name, count, hang = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]
    history = History(out, index)
    pixels = Image.fromarray(np.random.default_rng(0).integers(0, 256, (96, 96, 3), dtype=np.uint8))

    def stop_here(*args, **kwargs):
        print("HANGING", flush=True)
        time.sleep(600)

    print("READY", flush=True)
    while not os.path.exists(index + ".go"):  # start together with the other children
        time.sleep(0.005)
    for i in range(count):
        if i == count - 1 and hang == "fsync":
            os.fsync = stop_here  # the last image's bytes are written, not yet renamed
        if i == count - 1 and hang == "index":
            history_module.History._upsert = stop_here  # renamed, not yet in the index
        record = ImageRecord(GenerationParams(f"{name} {i}", seed=i))
        history.add(write_image(pixels, record, out, "png", pattern="{date}/" + name + "-{seed}"))
    print("DONE", flush=True)
    """
)


def spawn(out: Path, index: Path, name: str, count: int, hang: str = "") -> subprocess.Popen[str]:
    args = [sys.executable, "-c", CHILD, str(out), str(index), name, str(count), hang or "-"]
    return subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def visible_images(out: Path) -> list[Path]:
    return sorted(p for p in out.rglob("*.png") if not any(part.startswith(".") for part in p.parts[-2:]))


@pytest.mark.parametrize("hang", ["fsync", "index"])
def test_sigkill_in_the_middle_of_a_save(tmp_path: Path, hang: str) -> None:
    out, index = tmp_path / "out", tmp_path / "index.sqlite3"
    child = spawn(out, index, "killed", 4, hang)
    assert child.stdout is not None
    assert child.stdout.readline().strip() == "READY"
    Path(f"{index}.go").touch()
    line = child.stdout.readline()
    assert line.strip() == "HANGING", line + (child.stderr.read() if child.stderr else "")
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=30)
    assert child.returncode == -signal.SIGKILL

    images = visible_images(out)
    expected = 3 if hang == "fsync" else 4  # the interrupted image is either absent or complete
    assert len(images) == expected
    for path in images:  # every image the gallery can see is whole and readable
        assert read_parameters(path).record is not None
    orphans = list(out.rglob(".tmp-*"))
    if hang == "fsync":
        assert orphans, "the kill should have landed inside the save"
    with History(out, index) as history:  # restart: the index agrees with the folder
        assert sorted(i.path for i in history.items()) == images
        assert history.sync().added == 0
    assert all(p.exists() for p in orphans), "a fresh temporary file may be a save still running"
    stale = time.time() - atomicfile.ORPHAN_AGE_S - 60
    for path in orphans:
        os.utime(path, (stale, stale))
    with History(out, index) as history:  # a later start removes what the killed save left
        assert sorted(i.path for i in history.items()) == images
    assert list(out.rglob(".tmp-*")) == []


def test_two_processes_saving_at_once_lose_nothing(tmp_path: Path) -> None:
    out, index = tmp_path / "out", tmp_path / "index.sqlite3"
    children = [spawn(out, index, "same", 15), spawn(out, index, "same", 15)]
    for child in children:
        assert child.stdout is not None
        line = child.stdout.readline()
        assert line.strip() == "READY", line + (child.stderr.read() if child.stderr else "")
    Path(f"{index}.go").touch()
    for child in children:
        _, err = child.communicate(timeout=300)
        assert child.returncode == 0, err
    images = visible_images(out)
    assert len(images) == 30  # same names from both: the second of each pair got "-2"
    with History(out, index, sync=False) as history:
        assert history.count() == 30
        assert sorted(i.path for i in history.items(limit=100)) == images
    assert sorted(read_parameters(p).prompt for p in images) == sorted([f"same {i}" for i in range(15)] * 2)


def test_full_disk_simulated_enospc_in_history_and_writer(tmp_path: Path, monkeypatch) -> None:
    out = tmp_path / "out"
    with History(out, tmp_path / "index.sqlite3") as history:
        first = history.add(save(out, "before", seed=1))
        before = first.path.read_bytes()

        def no_space(fd: int, data: object) -> int:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

        monkeypatch.setattr(atomicfile.os, "write", no_space)
        with pytest.raises(SaveError) as err:
            save(out, "after", seed=2)
        monkeypatch.undo()
        assert "disk is full" in str(err.value) and "earlier images are untouched" in str(err.value)
        assert first.path.read_bytes() == before
        assert visible_images(out) == [first.path] and not list(out.rglob(".tmp-*"))
        assert [i.prompt for i in history.items()] == ["before"]

        history._con.execute("PRAGMA max_page_count = 1")  # SQLite's own "database or disk is full"
        second = save(out, "x" * 100_000, seed=3)
        with pytest.raises(HistoryError) as err2:
            history.add(second)
        assert "disk is full" in str(err2.value) and "images are safe" in str(err2.value)
    with History(out, tmp_path / "index.sqlite3") as reopened:  # and the next start catches up
        assert reopened.count() == 2


def test_a_new_index_opened_while_another_process_writes_it_waits_instead_of_failing(tmp_path: Path) -> None:
    import sqlite3
    import threading

    from wuerstchen_desktop.core.library.index import connect

    index = tmp_path / "index.sqlite3"
    other = sqlite3.connect(index, isolation_level=None)  # another process, before WAL is set
    other.execute("CREATE TABLE t (x)")
    # It is writing: SQLite then refuses the switch to WAL at once instead of waiting (its busy handler
    # is not called where waiting could deadlock), as when several processes open a new index together.
    other.execute("BEGIN IMMEDIATE")
    other.execute("INSERT INTO t VALUES (1)")
    opened: list[object] = []

    def open_it() -> None:
        con = _try(connect, index)
        if isinstance(con, sqlite3.Connection):
            con.close()
            con = sqlite3.connect(index).execute("PRAGMA journal_mode").fetchone()[0]
        opened.append(con)

    opener = threading.Thread(target=open_it)
    opener.start()
    opener.join(timeout=1.0)
    assert opener.is_alive() and not opened  # waiting for the lock, not failing with "database is locked"
    other.execute("COMMIT")
    other.close()
    opener.join(timeout=30)
    assert opened == ["wal"]  # it opened, in write-ahead logging


def _try(fn, *args):
    try:
        return fn(*args)
    except Exception as exc:  # the failure is the test's answer
        return exc
