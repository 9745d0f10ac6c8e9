"""The dialog for an error nobody caught: what happened, where the log is, and the traceback.

Errors reach it from any thread; it opens on the GUI thread only, one at a time, and once per kind of
error, so a slot that fails on every timer tick or every repaint cannot stack dialogs without end.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, Signal, Slot
from PySide6.QtWidgets import QApplication, QMessageBox, QWidget


class CrashDialog(QMessageBox):
    def __init__(
        self, message: str, details: str, log_file: Path | None, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setIcon(QMessageBox.Icon.Critical)
        self.setWindowTitle(self.tr("Würstchen Desktop"))
        self.setText(self.tr("Something went wrong: {0}").format(message))
        where = self.tr(" The details are in {0}.").format(log_file) if log_file is not None else ""
        self.setInformativeText(
            self.tr("Images already saved are safe. Restart the app if it stops responding.") + where
        )
        self.setDetailedText(details)


class CrashReporter(QObject):
    """Create it on the GUI thread; ``report`` may be called from any thread."""

    _report = Signal(str, str, str)  # kind of error, message, traceback

    def __init__(self, log_file: Path | None) -> None:
        super().__init__()
        self.log_file = log_file
        self.shown: set[str] = set()
        self.showing = False
        self._report.connect(self._show)  # queued to this object's (the GUI) thread from other threads

    def report(self, key: str, message: str, details: str) -> None:
        self._report.emit(key, message, details)

    @Slot(str, str, str)
    def _show(self, key: str, message: str, details: str) -> None:
        # An error while the dialog is open (its event loop still runs slots and repaints) is only logged.
        if self.showing or key in self.shown or not isinstance(QApplication.instance(), QApplication):
            return
        self.shown.add(key)
        self.showing = True
        try:
            parent = QApplication.activeWindow()
            CrashDialog(message, details, self.log_file, parent).exec()
        finally:
            self.showing = False
