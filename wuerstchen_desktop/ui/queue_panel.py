"""The queue, visible: the running job with its progress, then the waiting jobs in the order they will
run. A waiting job can be removed (Remove, Del) or dragged to another place; the service's queue follows."""

from __future__ import annotations

import functools

from PySide6.QtCore import QEvent, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QDropEvent, QKeyEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from wuerstchen_desktop.core.jobs.estimate import JobProgress
from wuerstchen_desktop.core.jobs.job import Job, JobKind
from wuerstchen_desktop.worker.generation import GenerationService

JOB_ID = Qt.ItemDataRole.UserRole
PROMPT_WIDTH = 260  # pixels of prompt shown before it ends in "…"


class QueueList(QListWidget):
    """The list itself: Del removes the selected waiting job, a drop moves one."""

    remove_requested = Signal(int)  # job id
    move_requested = Signal(int, int)  # job id, its new place among the waiting jobs

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setDragDropMode(QAbstractItemView.DragDropMode.InternalMove)
        self.setDefaultDropAction(Qt.DropAction.MoveAction)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setUniformItemSizes(True)

    def sizeHint(self) -> QSize:
        # Three rows: the running job and the next two; the panel stays small below the image.
        return QSize(320, self.fontMetrics().height() * 3 + 2 * self.frameWidth() + 8)

    def selected_job(self) -> int | None:
        item = self.currentItem()
        if item is None or not item.isSelected() or not self._waiting(self.row(item)):
            return None
        return int(item.data(JOB_ID))

    def event(self, event: QEvent) -> bool:
        # Del here removes a job, not the history's image (the window's Delete action).
        if (
            event.type() == QEvent.Type.ShortcutOverride
            and isinstance(event, QKeyEvent)
            and event.key() in (Qt.Key.Key_Delete, Qt.Key.Key_Backspace)
        ):
            event.accept()
            return True
        return super().event(event)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        job = self.selected_job()
        if event.key() in (Qt.Key.Key_Delete, Qt.Key.Key_Backspace) and job is not None:
            self.remove_requested.emit(job)
            return
        super().keyPressEvent(event)

    def dropEvent(self, event: QDropEvent) -> None:
        """Asks to move the dragged job where it was dropped; the rows are then rebuilt from the queue."""
        job = self.selected_job()
        if job is None:
            event.ignore()
            return
        pos = event.position().toPoint()
        index = self.indexAt(pos)
        row = self.count()
        if index.isValid():
            row = index.row() + int(pos.y() > self.visualRect(index).center().y())
        before = [int(self.item(r).data(JOB_ID)) for r in range(row) if self._waiting(r)]
        place = len([other for other in before if other != job])
        event.setDropAction(Qt.DropAction.IgnoreAction)  # nothing for Qt to remove: the queue is the truth
        event.accept()
        QTimer.singleShot(0, functools.partial(self.move_requested.emit, job, place))

    def _waiting(self, row: int) -> bool:
        return bool(self.item(row).flags() & Qt.ItemFlag.ItemIsDragEnabled)


class QueuePanel(QWidget):
    """Shows the service's jobs; asks it to remove or move a waiting one, then shows what it did."""

    message = Signal(str)

    def __init__(self, service: GenerationService, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.service = service
        self.list = QueueList()
        self.empty = QLabel(self.tr("No jobs running or waiting."))
        self.empty.setEnabled(False)
        self.remove_button = QPushButton(self.tr("Remove"))
        self.remove_button.setToolTip(self.tr("Take the selected waiting job off the queue (Del)"))
        self.cancel_all_button = QPushButton(self.tr("Cancel all…"))
        # The buttons beside the list, not below it: the dock costs the image as little height as it can.
        jobs = QVBoxLayout()
        jobs.addWidget(self.list, 1)
        jobs.addWidget(self.empty)
        buttons = QVBoxLayout()
        buttons.addWidget(self.remove_button)
        buttons.addWidget(self.cancel_all_button)
        buttons.addStretch(1)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(4, 0, 4, 4)
        layout.addLayout(jobs, 1)
        layout.addLayout(buttons)
        self.remove_button.clicked.connect(self._remove_selected)
        self.list.remove_requested.connect(self.remove_job)
        self.list.move_requested.connect(self.move_job)
        self.list.itemSelectionChanged.connect(self._update_buttons)
        service.queue_changed.connect(self.refresh)
        for done in (service.job_started, service.job_finished, service.job_failed, service.job_cancelled):
            done.connect(self.refresh)
        service.job_progress.connect(self.show_progress)
        self.refresh()

    def describe(self, job: Job) -> tuple[str, str]:
        """The row's text and its tooltip (the whole prompt)."""
        kinds = {
            JobKind.GENERATE: self.tr("Generate"),
            JobKind.COMPOSE: self.tr("Compose"),
            JobKind.DECODE: self.tr("Decode"),
            JobKind.BLEND: self.tr("Blend"),
            JobKind.REPRODUCE: self.tr("Reproduce"),
            JobKind.UPSCALE: self.tr("Upscale 2x"),
        }
        parts = [kinds.get(job.kind, job.kind.value)]
        p = job.params
        if p is not None:
            metrics = self.list.fontMetrics()
            prompt = " ".join(p.prompt.split())
            parts.append(metrics.elidedText(prompt, Qt.TextElideMode.ElideRight, PROMPT_WIDTH))
            parts.append(f"{p.width}x{p.height}")
            parts.append(self.tr("{0} image(s)").format(p.images))
            return " · ".join(parts), p.prompt
        names = ", ".join(source.name for source in job.sources)
        parts.append(names)
        return " · ".join(parts), names

    def refresh(self, *_args: object) -> None:
        """The rows again, from the service's queue as it is now."""
        selected = self.list.selected_job()
        self.list.clear()
        running = self.service.running
        for job in self.service.jobs():
            text, tip = self.describe(job)
            item = QListWidgetItem()
            item.setData(JOB_ID, job.id)
            item.setToolTip(tip)
            if job is running:
                item.setFlags(Qt.ItemFlag.ItemIsEnabled)
                item.setData(Qt.ItemDataRole.UserRole + 1, text)
                font = item.font()
                font.setBold(True)
                item.setFont(font)
            else:
                enabled, selectable = Qt.ItemFlag.ItemIsEnabled, Qt.ItemFlag.ItemIsSelectable
                item.setFlags(enabled | selectable | Qt.ItemFlag.ItemIsDragEnabled)
                item.setText(self.tr("Waiting · {0}").format(text))
            self.list.addItem(item)
            if job.id == selected:
                item.setSelected(True)
                self.list.setCurrentItem(item)
        if running is not None:
            self.show_progress(self.service.last_progress)
        self.empty.setVisible(self.list.count() == 0)
        self._update_buttons()

    def show_progress(self, progress: JobProgress | None) -> None:
        item = self.list.item(0)
        running = self.service.running
        if item is None or running is None or int(item.data(JOB_ID)) != running.id:
            return
        text = str(item.data(Qt.ItemDataRole.UserRole + 1))
        if progress is None or progress.job_id != running.id:
            item.setText(self.tr("Running · {0}").format(text))
        else:
            item.setText(self.tr("Running {0:.0%} · {1}").format(progress.fraction, text))

    def remove_job(self, job_id: int) -> None:
        if not self.service.remove(job_id):
            self.message.emit(self.tr("That job has already started: cancel it with Esc instead."))
        self.refresh()

    def move_job(self, job_id: int, index: int) -> None:
        if not self.service.move(job_id, index):
            self.message.emit(self.tr("That job has already started, so it keeps its place."))
        self.refresh()

    def _remove_selected(self) -> None:
        job = self.list.selected_job()
        if job is not None:
            self.remove_job(job)

    def _update_buttons(self) -> None:
        self.remove_button.setEnabled(self.list.selected_job() is not None)
        self.cancel_all_button.setEnabled(bool(self.service.jobs()))
