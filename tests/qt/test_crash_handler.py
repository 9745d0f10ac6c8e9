"""Errors nobody caught, in a Qt slot, a paint event or another thread: the traceback goes to the rotating
log and the crash dialog opens on the GUI thread, once, instead of the app dying silently or stacking
dialogs without end."""

from __future__ import annotations

import logging
import sys
import threading
from pathlib import Path
from typing import Any

import platformdirs
import pytest
from PySide6.QtCore import QEventLoop, QObject, QThread, QTimer, Signal, Slot
from PySide6.QtGui import QPaintEvent
from PySide6.QtWidgets import QMessageBox, QWidget

from wuerstchen_desktop.app import install_crash_handler, setup_logging

# pytest-qt would otherwise take the errors these tests raise on purpose for failures of the test.
pytestmark = pytest.mark.qt_no_exception_capture

WAIT_MS = 10_000


@pytest.fixture
def crash_handler(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, qapp: Any):
    """The app's own logging and crash handler, for this test only; dialogs are recorded, not shown.
    While a recorded dialog is "open", its event loop runs for a moment, as the real one would."""
    monkeypatch.setattr(platformdirs, "user_log_path", lambda *a, **k: tmp_path)
    monkeypatch.setattr(sys, "excepthook", sys.excepthook)
    monkeypatch.setattr(threading, "excepthook", threading.excepthook)
    shown: list[dict[str, str]] = []  # each dialog that would have opened: its texts, and its thread

    def record(box: QMessageBox) -> int:
        shown.append(
            {
                "text": box.text(),
                "informative": box.informativeText(),
                "details": box.detailedText(),
                "thread": threading.current_thread().name,
            }
        )
        loop = QEventLoop()
        QTimer.singleShot(50, loop.quit)
        loop.exec()
        return 0

    monkeypatch.setattr(QMessageBox, "exec", record)
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    log_file = setup_logging(verbose=False)
    install_crash_handler(log_file)
    yield log_file, shown
    for handler in root.handlers[:]:
        if handler not in handlers:
            root.removeHandler(handler)
            handler.close()
    root.setLevel(level)


def test_an_error_in_a_slot_is_logged_and_shown_once(qtbot, crash_handler) -> None:
    log_file, shown = crash_handler
    calls = []

    def on_tick() -> None:
        calls.append(1)
        raise ValueError("the gallery fell over")

    timer = QTimer()
    timer.timeout.connect(on_tick)
    timer.start(5)
    qtbot.waitUntil(lambda: len(calls) >= 10, timeout=WAIT_MS)
    timer.stop()
    assert len(shown) == 1, "one dialog, however often the slot fails"
    (dialog,) = shown
    assert "the gallery fell over" in dialog["text"]
    assert str(log_file) in dialog["informative"]
    assert "on_tick" in dialog["details"] and dialog["thread"] == threading.main_thread().name
    text = log_file.read_text(encoding="utf-8")
    assert text.count("Traceback (most recent call last)") == 1  # then one line per repeat
    assert "ValueError: the gallery fell over" in text and "in on_tick" in text


class Broken(QWidget):
    def __init__(self) -> None:
        super().__init__()
        self.paints = 0

    def paintEvent(self, event: QPaintEvent) -> None:
        self.paints += 1
        raise RuntimeError("cannot paint")


def test_a_widget_that_fails_to_paint_shows_one_dialog(qtbot, crash_handler) -> None:
    log_file, shown = crash_handler
    widget = Broken()
    qtbot.addWidget(widget)
    widget.show()
    timer = QTimer()
    timer.timeout.connect(widget.update)  # each repaint fails again, the dialog's own event loop among them
    timer.start(5)
    qtbot.waitUntil(lambda: widget.paints >= 5, timeout=WAIT_MS)
    timer.stop()
    widget.hide()  # no repaint left pending for after the test, when the handler is gone
    assert len(shown) == 1 and "cannot paint" in shown[0]["text"]
    assert "RuntimeError: cannot paint" in log_file.read_text(encoding="utf-8")


class Worker(QObject):
    @Slot()
    def fail(self) -> None:
        raise LookupError("the index went away")


class Trigger(QObject):
    go = Signal()


def test_errors_on_other_threads_are_logged_and_shown_on_the_gui_thread(qtbot, crash_handler) -> None:
    log_file, shown = crash_handler
    thread = QThread()
    thread.setObjectName("history")
    worker = Worker()
    worker.moveToThread(thread)
    trigger = Trigger()
    trigger.go.connect(worker.fail)
    thread.start()
    try:
        trigger.go.emit()  # a slot on a QThread: PySide6 hands its error to sys.excepthook there
        qtbot.waitUntil(lambda: len(shown) == 1, timeout=WAIT_MS)

        def download() -> None:
            raise OSError("the network went away")

        plain = threading.Thread(target=download, name="download")
        plain.start()
        plain.join()
        qtbot.waitUntil(lambda: len(shown) == 2, timeout=WAIT_MS)
    finally:
        thread.quit()
        thread.wait()
    assert {d["thread"] for d in shown} == {threading.main_thread().name}
    texts = " ".join(d["text"] for d in shown)
    assert "the index went away" in texts and "the network went away" in texts
    log = log_file.read_text(encoding="utf-8")
    assert "LookupError: the index went away" in log and "OSError: the network went away" in log
    assert " download wuerstchen_desktop: uncaught exception" in log  # the thread's name is in the log
