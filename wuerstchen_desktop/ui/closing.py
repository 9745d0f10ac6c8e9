"""Closing the main window: idle, it goes at once; during a job it says "Cancelling…" until the job stops
(at its step's end) or ``WAIT_MS`` passes. A thread still busy then (a model still loading) is not waited
for: the process ends without it (app.leave)."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QObject, QTimer
from PySide6.QtGui import QCloseEvent

WAIT_MS = 1500  # the longest the window says "Cancelling…" before it goes
THREAD_WAIT_MS = 300  # then, the longest the generation thread is waited for


class Closer(QObject):
    """Owned by the window; ``close_event`` is its closeEvent."""

    def __init__(self, window: Any) -> None:
        super().__init__(window)
        self.window = window
        self.timer: QTimer | None = None  # set once a close during a job has begun

    def close_event(self, event: QCloseEvent) -> None:
        w = self.window
        w.place.save()
        if w.service.busy and self.timer is None:
            w.engine_label.setText(self.tr("Cancelling…"))
            self.timer = QTimer(self, singleShot=True, interval=WAIT_MS)
            self.timer.timeout.connect(w.close)
            self.timer.start()
            for done in (w.service.job_finished, w.service.job_failed, w.service.job_cancelled):
                done.connect(self._job_ended)
            w.service.cancel_all()
            event.ignore()
            return
        w.hide()  # at once: the threads' ends below are not the user's wait
        w.service.shutdown(timeout_ms=THREAD_WAIT_MS)
        w.history.shutdown()
        w.downloads.shutdown()
        event.accept()

    def _job_ended(self, *_: object) -> None:
        if not self.window.service.busy:
            self.window.close()
