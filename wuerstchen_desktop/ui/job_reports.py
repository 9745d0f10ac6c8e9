"""What the window does when the generation worker reports on a job: show its images, say how it ended,
and take a live preview away when no image came of it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QObject
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import QMessageBox

from wuerstchen_desktop.core.jobs.job import JobError, JobResult

if TYPE_CHECKING:
    from wuerstchen_desktop.ui.main_window import MainWindow


class JobReports(QObject):
    """Follows the service's job signals (all on the GUI thread) on behalf of the window."""

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.w = window
        s = window.service
        s.job_started.connect(self.started)
        s.job_finished.connect(self.finished)
        s.job_failed.connect(self.failed)
        s.job_cancelled.connect(self.cancelled)

    def started(self, _job_id: int) -> None:
        self.w.statusBar().clearMessage()
        self.w.status.job_started()

    def finished(self, result: JobResult) -> None:
        w = self.w
        for path in result.paths:
            w.history.add(path)
        where = w.flow.finished(result)
        if where != "sheet" and result.paths:
            w.show_image(result.paths[-1], switch=where == "show")
        note = " ".join(result.warnings)
        w.statusBar().showMessage(
            self.tr("Done in {0:.1f} s. {1}").format(result.seconds, note).strip(), 10_000
        )
        w.status.job_done()

    def drop_preview(self, job_id: int) -> None:
        """A job that ended without an image leaves no preview behind: the last image comes back."""
        w = self.w
        if w.flow.previewing != job_id:
            return
        w.flow.previewing = None
        if w.shown is not None and w.shown.is_file():
            w.show_image(w.shown, switch=False)
        else:
            w.view.set_pixmap(QPixmap())
            w.view.set_caption("")

    def failed(self, error: JobError) -> None:
        w = self.w
        self.drop_preview(error.job_id)
        for path in error.paths:  # written before the failure: listed like any other
            w.history.add(path)
        w.status.job_done()
        if error.missing_files:
            w.start_engine()
            return
        box = QMessageBox(QMessageBox.Icon.Warning, self.tr("Could not generate"), error.message, parent=w)
        if w.log_file is not None:
            box.setInformativeText(self.tr("Details are in the log: {0}").format(w.log_file))
        box.setDetailedText(error.details)
        box.open()
        w.error_box = box

    def cancelled(self, job_id: int) -> None:
        self.drop_preview(job_id)
        self.w.statusBar().showMessage(self.tr("Cancelled."), 5_000)
        self.w.status.job_done()
