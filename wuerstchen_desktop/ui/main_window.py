"""The main window: prompt panel, image view, history gallery, and a status bar that always says what
is happening and how long it will take."""

from __future__ import annotations

import json
import logging
from pathlib import Path

from PySide6.QtCore import QItemSelectionModel, QPoint, Qt, QUrl
from PySide6.QtGui import QAction, QCloseEvent, QDesktopServices, QGuiApplication, QKeySequence, QPixmap
from PySide6.QtWidgets import (
    QApplication,
    QLabel,
    QMainWindow,
    QMenu,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QSplitter,
)

from wuerstchen_desktop.core.errors import InvalidParams
from wuerstchen_desktop.core.params import GenerationParams
from wuerstchen_desktop.core.settings import Settings
from wuerstchen_desktop.ui.gallery import Gallery
from wuerstchen_desktop.ui.image_view import ImageView
from wuerstchen_desktop.ui.prompt_panel import PromptPanel
from wuerstchen_desktop.ui.settings_dialog import SettingsDialog, SettingsStore
from wuerstchen_desktop.ui.theme import apply_theme
from wuerstchen_desktop.worker.generation import GenerationService
from wuerstchen_desktop.worker.jobs import EngineConfig, Job, JobError, JobResult

log = logging.getLogger(__name__)


class MainWindow(QMainWindow):
    def __init__(
        self,
        service: GenerationService,
        settings: Settings,
        store: SettingsStore | None = None,
        log_file: Path | None = None,
    ) -> None:
        super().__init__()
        self.service = service
        self.settings = settings
        self.store = store
        self.log_file = log_file
        self.auto_choice = ""
        self.job_params: dict[int, GenerationParams] = {}
        self.setWindowTitle(self.tr("Würstchen Desktop"))
        self.resize(1360, 860)

        self.panel = PromptPanel()
        self.panel.setMinimumWidth(320)
        self.view = ImageView()
        self.gallery = Gallery()
        self.gallery.setMinimumWidth(200)
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(self.panel)
        splitter.addWidget(self.view)
        splitter.addWidget(self.gallery)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([360, 760, 360])
        self.setCentralWidget(splitter)

        self.engine_label = QLabel(self.tr("Starting…"))
        self.stage_label = QLabel()
        self.progress = QProgressBar()
        self.progress.setMaximumWidth(240)
        self.progress.setTextVisible(False)
        self.progress.hide()
        self.cancel_button = QPushButton(self.tr("Cancel"))
        self.cancel_button.setToolTip(self.tr("Cancel the running job (Esc)"))
        self.cancel_button.hide()
        status = self.statusBar()
        status.addPermanentWidget(self.stage_label)
        status.addPermanentWidget(self.progress)
        status.addPermanentWidget(self.cancel_button)
        status.addPermanentWidget(self.engine_label)

        self._actions()
        self.panel.generate_requested.connect(self.generate)
        self.cancel_button.clicked.connect(self.service.cancel_current)
        self.gallery.image_activated.connect(self.show_image)
        self.gallery.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.gallery.customContextMenuRequested.connect(self._gallery_menu)
        service.engine_status.connect(self.engine_label.setText)
        service.engine_ready.connect(self._engine_ready)
        service.job_started.connect(self._job_started)
        service.progress.connect(self._progress)
        service.job_finished.connect(self._job_finished)
        service.job_failed.connect(self._job_failed)
        service.job_cancelled.connect(self._job_cancelled)
        service.queue_changed.connect(self._queue_changed)
        self.panel.prompt.setFocus()

    # -- actions ----------------------------------------------------------------------------------
    def _actions(self) -> None:
        def action(
            text: str, keys: list[QKeySequence], slot, context=Qt.ShortcutContext.WindowShortcut
        ) -> QAction:
            act = QAction(text, self)
            act.setShortcuts(keys)
            act.setShortcutContext(context)
            act.triggered.connect(slot)
            self.addAction(act)
            return act

        self.generate_action = action(
            self.tr("Generate"), [QKeySequence("Ctrl+Return"), QKeySequence("Ctrl+Enter")], self.generate
        )
        self.cancel_action = action(
            self.tr("Cancel"), [QKeySequence(Qt.Key.Key_Escape)], self.service.cancel_current
        )
        self.copy_image_action = action(self.tr("Copy image"), [QKeySequence("Ctrl+C")], self.copy_image)
        self.copy_params_action = action(
            self.tr("Copy parameters"), [QKeySequence("Ctrl+Shift+C")], self.copy_parameters
        )
        self.settings_action = action(self.tr("Settings…"), [QKeySequence("Ctrl+,")], self.open_settings)
        self.settings_action.setMenuRole(QAction.MenuRole.PreferencesRole)
        self.toggle_fit_action = action(self.tr("Fit / 100%"), [QKeySequence("Ctrl+0")], self.view.toggle_fit)

    def generate(self) -> None:
        try:
            params = self.panel.params()
        except InvalidParams as exc:
            self.panel.show_error(str(exc))
            return
        if not params.prompt:
            self.panel.show_error(self.tr("Type a prompt first."))
            return
        self.panel.show_error("")
        job = Job(params, self.settings.output_dir, self.settings.image_format)
        self.job_params[job.id] = params
        self.service.submit(job)

    @property
    def out_dir(self) -> Path:
        return self.settings.output_dir

    def open_settings(self) -> None:
        dialog = SettingsDialog(self.settings, self.auto_choice, self)
        dialog.accepted.connect(lambda: self.apply_settings(dialog.settings()))
        dialog.open()
        self.settings_dialog = dialog

    def apply_settings(self, settings: Settings) -> None:
        """Save and use new settings; the engine reloads between jobs if its part changed."""
        self.settings = settings
        if self.store is not None:
            self.store.save(settings)
        app = QApplication.instance()
        if isinstance(app, QApplication):
            apply_theme(app, settings.theme)
        self.service.reconfigure(EngineConfig.from_settings(settings))

    def _engine_ready(self, description: str, reasons: str) -> None:
        self.auto_choice = self.tr("Now using {0}: {1}").format(description, reasons)

    def copy_image(self) -> None:
        if self.view.has_image():
            QGuiApplication.clipboard().setPixmap(self.view.pixmap())

    def copy_parameters(self) -> None:
        params = self.gallery.current_params()
        if isinstance(params, GenerationParams):
            QGuiApplication.clipboard().setText(json.dumps(params.to_dict(), ensure_ascii=False, indent=2))

    def show_image(self, path: Path) -> None:
        pixmap = QPixmap(str(path))
        if pixmap.isNull():
            self.statusBar().showMessage(
                self.tr("Cannot show {0}: the file is missing or damaged.").format(path)
            )
            return
        self.view.set_pixmap(pixmap)

    def _gallery_menu(self, pos: QPoint) -> None:
        item = self.gallery.itemAt(pos)
        if item is None:
            return
        self.gallery.setCurrentItem(item)
        params = self.gallery.current_params()
        path = self.gallery.current_path()
        menu = QMenu(self)
        if isinstance(params, GenerationParams):
            menu.addAction(self.tr("Use all settings"), lambda: self.panel.set_params(params))
            menu.addAction(self.tr("Use prompt"), lambda: self._use_prompt(params))
            menu.addAction(self.tr("Use seed"), lambda: self.panel.set_seed(params.seed))
            menu.addSeparator()
        menu.addAction(self.copy_image_action)
        if isinstance(params, GenerationParams):
            menu.addAction(self.copy_params_action)
        if path is not None:
            menu.addAction(
                self.tr("Show in folder"),
                lambda: QDesktopServices.openUrl(QUrl.fromLocalFile(str(path.parent))),
            )
        menu.exec(self.gallery.viewport().mapToGlobal(pos))

    def _use_prompt(self, params: GenerationParams) -> None:
        self.panel.prompt.setPlainText(params.prompt)
        self.panel.negative.setPlainText(params.negative_prompt)

    # -- worker reports ---------------------------------------------------------------------------
    def _job_started(self, job_id: int) -> None:
        self.statusBar().clearMessage()
        self.progress.setRange(0, 0)
        self.progress.show()
        self.cancel_button.show()
        self.stage_label.setText(self.tr("Starting…"))

    def _progress(self, job_id: int, stage: str, step: int, total: int, seconds_left: float) -> None:
        names = {"prior": self.tr("Composing"), "decoder": self.tr("Decoding"), "vqgan": self.tr("Finishing")}
        self.progress.setRange(0, total)
        self.progress.setValue(step)
        eta = self.tr(" · about {0} s left").format(round(seconds_left)) if seconds_left >= 0 else ""
        self.stage_label.setText(f"{names.get(stage, stage)} {step}/{total}{eta}")

    def _job_done(self) -> None:
        if not self.service.busy:
            self.progress.hide()
            self.cancel_button.hide()
            self.stage_label.setText("")

    def _job_finished(self, result: JobResult) -> None:
        params = self.job_params.pop(result.job_id, None)
        for i, path in enumerate(result.paths):
            item_params = params.for_image(i) if params is not None else None
            self.gallery.add_image(path, item_params)
        if result.paths:
            self.gallery.setCurrentRow(
                len(result.paths) - 1, QItemSelectionModel.SelectionFlag.ClearAndSelect
            )
        note = " ".join(result.warnings)
        self.statusBar().showMessage(
            self.tr("Done in {0:.1f} s. {1}").format(result.seconds, note).strip(), 10_000
        )
        self._job_done()

    def _job_failed(self, error: JobError) -> None:
        self.job_params.pop(error.job_id, None)
        self._job_done()
        box = QMessageBox(QMessageBox.Icon.Warning, self.tr("Could not generate"), error.message, parent=self)
        if self.log_file is not None:
            box.setInformativeText(self.tr("Details are in the log: {0}").format(self.log_file))
        box.setDetailedText(error.details)
        box.open()
        self.error_box = box

    def _job_cancelled(self, job_id: int) -> None:
        self.job_params.pop(job_id, None)
        self.statusBar().showMessage(self.tr("Cancelled."), 5_000)
        self._job_done()

    def _queue_changed(self, waiting: int) -> None:
        self.panel.set_busy_hint(waiting)

    # -- shutdown ---------------------------------------------------------------------------------
    def closeEvent(self, event: QCloseEvent) -> None:
        if self.service.busy:
            self.engine_label.setText(self.tr("Cancelling…"))
        self.service.shutdown()
        event.accept()
