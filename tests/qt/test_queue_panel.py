"""The visible queue over the real worker thread: rows for the running and waiting jobs, removing and
reordering waiting ones, a queued Compose that leaves the contact sheet alone, and the panel's state kept."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QPoint, QPointF, QSettings, Qt
from PySide6.QtGui import QDropEvent

from tests.helpers.window import WAIT_MS, compose_and_wait, fast


def start_long_job(qtbot, window) -> int:
    """A job that runs until cancelled; returns its id once the worker has taken it."""
    fast(window, prompt="the running one", steps=200)
    with qtbot.waitSignal(window.service.progress, timeout=WAIT_MS):
        window.generate()
    running = window.service.running
    assert running is not None
    return running.id


def queue_three(window) -> None:
    for seed, prompt in enumerate(("a red fox", "a green frog", "a blue whale " * 20)):
        fast(window, prompt=prompt.strip(), seed=seed, images=2 if seed == 2 else 1)
        window.generate()


def waiting_prompts(window) -> list[str]:
    return [job.params.prompt.split()[1] for job in window.service.jobs()[1:]]


def test_the_queue_lists_running_and_waiting_jobs(qtbot, make_window) -> None:
    window = make_window()
    start_long_job(qtbot, window)
    queue_three(window)
    rows = window.queue.list
    assert window.queue_dock.isVisible() and rows.count() == 4
    # The running row shows its share done once the job's first step has reported.
    qtbot.waitUntil(
        lambda: rows.item(0).text().startswith("Running ") and "%" in rows.item(0).text(), timeout=WAIT_MS
    )
    assert "the running one" in rows.item(0).text()
    assert rows.item(1).text() == "Waiting · Generate · a red fox · 256x256 · 1 image(s)"
    assert rows.item(3).text().endswith("256x256 · 2 image(s)") and "…" in rows.item(3).text()
    assert rows.item(3).toolTip().startswith("a blue whale a blue whale")
    window.service.cancel_all()
    qtbot.waitUntil(lambda: rows.count() == 0 and window.queue.empty.isVisible(), timeout=WAIT_MS)


def test_del_removes_a_waiting_job_and_the_running_one_stays(qtbot, make_window) -> None:
    window = make_window()
    running = start_long_job(qtbot, window)
    queue_three(window)
    cancelled: list[int] = []
    window.service.job_cancelled.connect(cancelled.append)
    rows = window.queue.list
    second = window.service.jobs()[2].id
    rows.setFocus()
    rows.setCurrentRow(2)
    qtbot.keyClick(rows, Qt.Key.Key_Delete)
    assert cancelled == [second] and waiting_prompts(window) == ["red", "blue"]
    assert window.service.busy and window.service.running.id == running
    assert rows.count() == 3 and window.gallery.count() == 0  # Del here never reaches the history
    rows.setCurrentRow(0)  # the running row cannot be selected, so there is nothing to remove
    assert window.queue.list.selected_job() is None and not window.queue.remove_button.isEnabled()
    window.service.cancel_all()


def drop(rows, source_row: int, target_row: int) -> None:
    """Drops row ``source_row`` on the upper half of ``target_row``, as a drag with the mouse ends."""
    rows.setCurrentRow(source_row)
    mime = rows.model().mimeData([rows.indexFromItem(rows.item(source_row))])
    at = rows.visualItemRect(rows.item(target_row)).topLeft() + QPoint(4, 1)
    event = QDropEvent(
        QPointF(at), Qt.DropAction.MoveAction, mime, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier
    )
    rows.dropEvent(event)


def test_dragging_a_waiting_job_reorders_the_workers_queue(qtbot, make_window) -> None:
    window = make_window()
    start_long_job(qtbot, window)
    queue_three(window)
    rows = window.queue.list
    drop(rows, 3, 1)  # the whale before the fox
    qtbot.waitUntil(lambda: waiting_prompts(window) == ["blue", "red", "green"])
    assert [rows.item(r).text().split(" · ")[2].split()[1] for r in (1, 2, 3)] == ["blue", "red", "green"]
    drop(rows, 1, 0)  # onto the running row: first among the waiting ones, never before the running job
    qtbot.waitUntil(lambda: rows.item(1).isSelected())
    assert waiting_prompts(window) == ["blue", "red", "green"]
    window.service.cancel_all()


def test_moving_a_job_the_worker_took_is_refused(qtbot, make_window) -> None:
    window = make_window()
    running = start_long_job(qtbot, window)
    queue_three(window)
    messages: list[str] = []
    window.queue.message.connect(messages.append)
    order = [job.id for job in window.service.jobs()]
    window.queue.move_job(running, 2)  # as if it was taken between the drag and the drop
    window.queue.remove_job(running)
    assert [job.id for job in window.service.jobs()] == order and window.service.busy
    assert messages and all("already started" in m for m in messages)
    assert window.queue.list.count() == 4
    window.service.cancel_all()


def test_a_queued_compose_leaves_the_sheet_until_it_starts(qtbot, make_window) -> None:
    window = make_window()
    sheet = compose_and_wait(qtbot, window, "a cat", seed=40, count=2)
    shown = [tile.item.path for tile in sheet.tiles]
    start_long_job(qtbot, window)
    fast(window, prompt="a dog", seed=50)
    window.panel.compose_count.setValue(3)
    window.flow.compose()
    assert [tile.item.path if tile.item else None for tile in sheet.tiles] == shown  # still the cats
    window.service.cancel_current()  # the compose starts now
    qtbot.waitUntil(lambda: len(sheet.tiles) == 3, timeout=WAIT_MS)
    qtbot.waitUntil(lambda: all(t.item is not None for t in sheet.tiles), timeout=WAIT_MS)
    assert all(tile.item.prompt == "a dog" for tile in sheet.tiles)


def test_show_queue_is_remembered(qtbot, make_window, tmp_path: Path) -> None:
    place = QSettings(str(tmp_path / "place.ini"), QSettings.Format.IniFormat)
    window = make_window(place=place)
    assert window.queue_dock.isVisible() and window.menus.show_queue.isChecked()
    window.menus.show_queue.trigger()
    assert not window.queue_dock.isVisible()
    window.close()
    again = make_window(place=place)
    assert not again.queue_dock.isVisible() and not again.menus.show_queue.isChecked()
