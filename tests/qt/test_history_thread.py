"""The history thread is quit and waited for on close, so Qt never aborts the process ("QThread: Destroyed
while thread 'history' is still running"), even with a FIFO in the output folder or a thread stuck in the
OS. Each case runs in a child process: an abort there is a failed test here, not a dead test run."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from PySide6.QtCore import QObject, Signal

from tests.helpers.images import save

pytestmark = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="FIFOs are POSIX")
ROOT = Path(__file__).resolve().parents[2]

CLOSE_DURING_SCAN = textwrap.dedent(
    """
    import logging, sys
    from pathlib import Path
    from PySide6.QtCore import QCoreApplication, QEventLoop, QTimer
    from wuerstchen_desktop.worker.history import HistoryService

    logging.basicConfig(stream=sys.stderr)
    app = QCoreApplication([])
    service = HistoryService()
    loop, counts = QEventLoop(), []
    service.worker.opened.connect(lambda n: (counts.append(n), loop.quit()))
    service.worker.failed.connect(lambda message: (print("failed", message), loop.quit()))
    QTimer.singleShot(60_000, loop.quit)  # a guard for the old hang; the scan needs well under a second
    service.open(Path(sys.argv[1]), Path(sys.argv[2]))
    loop.exec()
    print("opened", counts, flush=True)
    print("shutdown", service.shutdown(timeout_ms=2_000), flush=True)
    del service
    """
)

STUCK_IN_THE_OS = textwrap.dedent(
    """
    import logging, sys
    from PySide6.QtCore import QCoreApplication, QObject, QSemaphore, Signal, Slot
    from wuerstchen_desktop.worker.history import HistoryService

    logging.basicConfig(stream=sys.stderr)
    app = QCoreApplication([])
    service = HistoryService()
    started = QSemaphore()

    class Blocker(QObject):
        go = Signal()

        @Slot()
        def block(self):
            started.release()
            open(sys.argv[1], "rb").read()  # a FIFO nobody writes: blocks in the kernel

    blocker = Blocker()
    blocker.moveToThread(service._thread)
    blocker.go.connect(blocker.block)
    blocker.go.emit()
    started.acquire()
    print("shutdown", service.shutdown(timeout_ms=300), flush=True)
    del service
    print("closed", flush=True)
    """
)


def child(code: str, *args: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "QT_QPA_PLATFORM": "offscreen"}
    argv = [sys.executable, "-c", code, *map(str, args)]
    return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=300)


def test_closing_while_a_fifo_sits_in_the_output_folder(tmp_path: Path) -> None:
    out = tmp_path / "out"
    save(out, "good", seed=1)
    os.mkfifo(out / "pipe.png")
    run = child(CLOSE_DURING_SCAN, out, tmp_path / "index.sqlite3")
    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines() == ["opened [1]", "shutdown True"]
    assert "Destroyed while thread" not in run.stderr


def test_a_thread_stuck_in_the_os_is_left_behind_without_an_abort(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe")
    run = child(STUCK_IN_THE_OS, tmp_path / "pipe")
    assert run.stdout.splitlines() == ["shutdown False", "closed"]
    assert "the history thread is still busy" in run.stderr
    assert "Destroyed while thread" not in run.stderr
    assert run.returncode == 1, run.stderr  # our own exit, not Qt's abort (SIGABRT: -6)


class Relay(QObject):
    """The worker's answers, queued to the GUI thread, as the window receives them."""

    opened = Signal(int)
    thumbnail_ready = Signal(int, int, bytes)


def test_damage_found_in_use_rebuilds_and_lists_again(qtbot, tmp_path: Path) -> None:
    """The open-time check leaves the thumbnail cache out; damage there is found when a thumbnail is read,
    and the index is rebuilt then (new item ids, so the window is told to list it again)."""
    from wuerstchen_desktop.core.library.history import History
    from wuerstchen_desktop.worker.history import HistoryService

    out, index = tmp_path / "out", tmp_path / "index.sqlite3"
    with History(out, index) as history:
        first = history.add(save(out, "first", seed=1, size=300))
        history.set_favourite(first.id)
        history.thumbnail(first.id, 64)  # whole: the one row opening reads
        last = history.add(save(out, "second", seed=2, size=300))
        history.thumbnail(last.id, 512)  # noise: a thumbnail of many pages, the last ones of the file
    con = sqlite3.connect(index)
    try:
        chain = [r[0] for r in con.execute("SELECT pageno FROM dbstat WHERE pagetype = 'overflow'")]
    except sqlite3.OperationalError:
        pytest.skip("this SQLite has no dbstat table to find the thumbnail's pages with")
    finally:
        con.close()
    data = bytearray(index.read_bytes())
    size = int.from_bytes(data[16:18], "big")
    for number in chain[len(chain) // 2 :]:  # the big thumbnail's second half: garbage
        data[(number - 1) * size : number * size] = b"\xff" * size
    index.write_bytes(bytes(data))

    service = HistoryService()
    relay = Relay()  # waited on here, on the GUI thread: never a blocker on the worker's own signal
    service.worker.opened.connect(relay.opened)
    service.worker.thumbnail_ready.connect(relay.thumbnail_ready)
    try:
        with qtbot.waitSignal(relay.opened, timeout=30_000) as opened:
            service.open(out, index)
        assert opened.args == [2]  # the items themselves were whole
        with qtbot.waitSignal(relay.opened, timeout=30_000) as reopened:
            service.thumbnail(last.id, 512, 1.0)
        assert reopened.args == [2]
        with History(out, index, sync=False) as rebuilt:
            assert [i.prompt for i in rebuilt.items(favourites_only=True)] == ["first"]
            again = rebuilt.items("second")[0]
        with qtbot.waitSignal(relay.thumbnail_ready, timeout=30_000) as thumb:
            service.thumbnail(again.id, 512, 1.0)
        assert thumb.args[0] == again.id and thumb.args[2][:4] == b"RIFF"
    finally:
        assert service.shutdown()


def test_a_failed_open_leaves_no_closed_history_behind(qapp, tmp_path: Path) -> None:
    """Switching to a folder that cannot be opened leaves the worker with no history, not the previous
    one closed: a later request must neither rebuild the old folder's index nor list its images again."""
    from wuerstchen_desktop.worker.history import HistoryWorker

    old, index = tmp_path / "old", tmp_path / "old.sqlite3"
    save(old, "old image", seed=1)
    blocked = tmp_path / "blocked"
    blocked.write_text("a file where the output folder should be")
    worker = HistoryWorker()  # on this thread: its slots run directly
    opened: list[int] = []
    failed: list[str] = []
    pages: list[list] = []
    worker.opened.connect(opened.append)
    worker.failed.connect(failed.append)
    worker.page.connect(lambda _request, items: pages.append(items))
    worker.open(old, index)
    assert opened == [1]
    worker.open(blocked, tmp_path / "blocked.sqlite3")
    assert len(failed) == 1 and opened == [1]
    stamp = index.stat().st_mtime_ns, index.stat().st_ino
    worker.list_page(1, "", False, 0, 10)
    worker.thumbnail(1, 64, 1.0)
    assert opened == [1] and pages in ([], [[]])  # nothing of the old folder comes back
    assert (index.stat().st_mtime_ns, index.stat().st_ino) == stamp  # the old index is not rebuilt
    worker.close()
