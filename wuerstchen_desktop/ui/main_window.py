"""The main window: prompt panel, image view, history gallery, and a status bar that always says what
is happening and how long it will take."""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import Any

from PySide6.QtCore import QSettings, Qt, QTimer
from PySide6.QtGui import (
    QAction,
    QCloseEvent,
    QDragEnterEvent,
    QDropEvent,
    QGuiApplication,
    QKeySequence,
    QPixmap,
)
from PySide6.QtWidgets import (
    QApplication,
    QLabel,
    QMainWindow,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QSplitter,
    QTabWidget,
)

from wuerstchen_desktop.core.engine.sysinfo import memory_in_use
from wuerstchen_desktop.core.jobs.job import EngineConfig, JobError, JobKind, JobResult
from wuerstchen_desktop.core.settings import Settings
from wuerstchen_desktop.ui.compose_flow import ComposeFlow
from wuerstchen_desktop.ui.elided_label import ElidedLabel
from wuerstchen_desktop.ui.first_run import FirstRunDialog
from wuerstchen_desktop.ui.gallery import GalleryPanel
from wuerstchen_desktop.ui.history_actions import HistoryActions
from wuerstchen_desktop.ui.image_view import ImageView
from wuerstchen_desktop.ui.prompt_panel import PromptPanel
from wuerstchen_desktop.ui.settings_dialog import SettingsDialog, SettingsStore
from wuerstchen_desktop.ui.theme import apply_theme
from wuerstchen_desktop.ui.window_geometry import WindowPlace
from wuerstchen_desktop.worker.downloads import DownloadService
from wuerstchen_desktop.worker.generation import GenerationService
from wuerstchen_desktop.worker.history import HistoryService

log = logging.getLogger(__name__)


class MainWindow(QMainWindow):
    def __init__(
        self,
        service: GenerationService,
        settings: Settings,
        store: SettingsStore | None = None,
        log_file: Path | None = None,
        history: HistoryService | None = None,
        index_path: Path | None = None,
        downloads: DownloadService | None = None,
        place: QSettings | None = None,
    ) -> None:
        super().__init__()
        self.service = service
        self.history = history if history is not None else HistoryService(self)
        self.downloads = downloads if downloads is not None else DownloadService(self, settings.models_folder)
        self.first_run: FirstRunDialog | None = None
        self.settings = settings
        self.store = store
        self.log_file = log_file
        self.index_path = index_path
        self.auto_choice = ""
        self.shown: Path | None = None  # the file in the image view (not a live preview)
        self.setWindowTitle(self.tr("Würstchen Desktop"))
        self.setAcceptDrops(True)

        self.panel = PromptPanel()
        self.view = ImageView()
        self.center = QTabWidget()
        self.center.setDocumentMode(True)
        self.center.addTab(self.view, self.tr("Image"))
        self.gallery = GalleryPanel(self.history)
        self.gallery.setMinimumWidth(200)
        self.flow = ComposeFlow(
            self.service,
            self.history,
            self.panel,
            self.view,
            self.center,
            lambda: self.settings,
            lambda text: self.statusBar().showMessage(text, 10_000),
            self,
        )
        self.splitter = splitter = QSplitter(Qt.Orientation.Horizontal)
        for widget in (self.panel, self.center, self.gallery):
            splitter.addWidget(widget)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([360, 760, 360])
        self.setCentralWidget(splitter)
        self._status_bar()
        self.gallery_actions = HistoryActions(self)
        self._actions()
        self._connect()
        self._open_history()
        self.place = WindowPlace(self, splitter, place)  # where it was, inside the screen
        self.place.restore()
        self.place.remember("panel/advanced", self.panel.advanced.toggle)
        self.panel.show_prior(settings.prior)
        self.panel.prompt.setFocus()

    def _status_bar(self) -> None:
        self.engine_label = ElidedLabel(self.tr("Starting…"))
        self.stage_label = ElidedLabel()
        self.progress = QProgressBar()
        self.progress.setMaximumWidth(240)
        self.progress.setTextVisible(False)
        self.progress.hide()
        self.cancel_button = QPushButton(self.tr("Cancel"))
        self.cancel_button.setToolTip(self.tr("Cancel the running job (Esc)"))
        self.cancel_button.hide()
        self.undo_button = QPushButton(self.tr("Undo"))
        self.undo_button.hide()
        self.previewer_button = QPushButton(self.tr("True-colour previews…"))
        self.previewer_button.setToolTip(
            self.tr("Live previews are approximate: download the live preview model (45 MB)")
        )
        self.previewer_button.hide()
        status = self.statusBar()
        status.addPermanentWidget(self.previewer_button)
        status.addPermanentWidget(self.undo_button)
        status.addPermanentWidget(self.stage_label)
        status.addPermanentWidget(self.progress)
        status.addPermanentWidget(self.cancel_button)
        status.addPermanentWidget(self.engine_label)
        self.memory_label = QLabel()
        self.memory_label.setToolTip(self.tr("Memory this app uses now"))
        status.addPermanentWidget(self.memory_label)
        self.memory_timer = QTimer(self)
        self.memory_timer.timeout.connect(self.update_memory)
        self.memory_timer.start(2000)
        self.update_memory()

    def _connect(self) -> None:
        self.panel.generate_requested.connect(self.generate)
        self.panel.compose_requested.connect(self.flow.compose)
        self.panel.picture.message.connect(self.statusBar().showMessage)
        self.panel.prior_chosen.connect(
            lambda ref: self.apply_settings(dataclasses.replace(self.settings, prior=ref))
        )
        self.cancel_button.clicked.connect(self.service.cancel_current)
        self.undo_button.clicked.connect(self.gallery_actions.undo_delete)
        self.previewer_button.clicked.connect(self.get_previewer)
        self.service.preview.connect(
            lambda p: self.previewer_button.setVisible(p.approximate and not self.settings.offline)
        )
        self.gallery.item_activated.connect(self._activated)
        self.gallery.view.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.gallery.view.customContextMenuRequested.connect(self.gallery_actions.menu)
        s = self.service
        s.engine_status.connect(self.engine_label.setText)
        s.engine_ready.connect(self._engine_ready)
        s.job_started.connect(self._job_started)
        s.progress.connect(self._progress)
        s.job_finished.connect(self._job_finished)
        s.job_failed.connect(self._job_failed)
        s.job_cancelled.connect(self._job_cancelled)
        s.queue_changed.connect(self.panel.set_busy_hint)
        # The history worker's answers go to self.gallery_actions.
        self.downloads.worker.checked.connect(self._checked)
        self.downloads.worker.counter_ready.connect(self.panel.set_token_counter)

    # -- start-up ---------------------------------------------------------------------------------
    def start_engine(self) -> None:
        """Load the engine if its files are on disk; otherwise offer to download them (first run)."""
        self.downloads.check(self.settings.prior, self.settings.decoder)

    def _checked(self, missing: list[str]) -> None:
        if not missing:
            self.downloads.load_counter(self.settings.prior)
            self.service.warm_up()
            return
        self.engine_label.setText(self.tr("Model files needed"))
        if self.first_run is not None:
            self.first_run.close()
        dialog = FirstRunDialog(self.downloads, missing, self.settings.offline, self)
        dialog.ready.connect(self.service.warm_up)
        dialog.folder_chosen.connect(self._folder_chosen)
        dialog.show()
        self.first_run = dialog

    def get_previewer(self) -> None:
        """Fetch the optional live-preview model (models downloaded before it was offered lack it)."""
        if self.first_run is not None:
            self.first_run.close()
        dialog = FirstRunDialog(self.downloads, [], self.settings.offline, self, previewer_only=True)
        dialog.ready.connect(self.service.refresh_previewer)
        dialog.ready.connect(self.previewer_button.hide)
        dialog.show()
        self.first_run = dialog

    def _folder_chosen(self, kind: str, folder: str) -> None:
        """Use the user's own copy of the prior or decoder; ask for the other side if it is missing too."""
        if self.first_run is not None:
            self.first_run.close()
            self.first_run = None
        # New checkpoints: apply_settings checks again and asks for the other side if it is missing too.
        if kind == "prior":
            self.apply_settings(dataclasses.replace(self.settings, prior=folder))
        else:
            self.apply_settings(dataclasses.replace(self.settings, decoder=folder))

    def update_memory(self) -> None:
        use = memory_in_use()
        parts = []
        if use.ram is not None:
            label = self.tr("RAM peak") if use.ram_is_peak else self.tr("RAM")
            parts.append(f"{label} {use.ram / 1e9:.1f} GB")
        if use.vram is not None:
            parts.append(self.tr("VRAM {0:.1f} GB").format(use.vram / 1e9))
        self.memory_label.setText(" · ".join(parts))

    # -- actions ----------------------------------------------------------------------------------
    def _actions(self) -> None:
        def action(text: str, keys: list[str], slot: Any) -> QAction:
            act = QAction(text, self)
            act.setShortcuts([QKeySequence(k) for k in keys])
            act.triggered.connect(slot)
            self.addAction(act)
            return act

        g = self.gallery_actions
        self.generate_action = action(self.tr("Generate"), ["Ctrl+Return", "Ctrl+Enter"], self.generate)
        self.compose_action = action(
            self.tr("Compose"), ["Ctrl+Shift+Return", "Ctrl+Shift+Enter"], self.flow.compose
        )
        self.cancel_action = action(self.tr("Cancel"), ["Esc"], self.service.cancel_current)
        self.cancel_all_action = action(self.tr("Cancel all jobs"), ["Shift+Esc"], self.service.cancel_all)
        self.copy_image_action = action(self.tr("Copy image"), ["Ctrl+C"], self.copy_image)
        self.copy_params_action = action(self.tr("Copy parameters"), ["Ctrl+Shift+C"], g.copy_parameters)
        self.open_action = action(self.tr("Open image…"), ["Ctrl+O"], g.open_image)
        self.paste_action = action(self.tr("Paste parameters"), ["Ctrl+Shift+V"], g.paste_parameters)
        self.delete_action = action(self.tr("Delete"), ["Del"], g.delete_current)
        self.undo_action = action(self.tr("Undo delete"), ["Ctrl+Z"], g.undo_delete)
        self.settings_action = action(self.tr("Settings…"), ["Ctrl+,"], self.open_settings)
        self.settings_action.setMenuRole(QAction.MenuRole.PreferencesRole)
        self.fit_action = action(self.tr("Fit / 100%"), ["Ctrl+0"], self.view.toggle_fit)

    def generate(self) -> None:
        params = self.panel.job_params()
        if params is None:
            return
        self.service.submit(self.flow.panel_job(params, JobKind.GENERATE))
        self.center.setCurrentWidget(self.view)  # where its live previews and its image appear

    def _open_history(self) -> None:
        """List the output folder's images; the history thread says if images cannot be saved there."""
        self.history.open(self.settings.output_dir, self.index_path)

    @property
    def out_dir(self) -> Path:
        return self.settings.output_dir

    def copy_image(self) -> None:
        if self.view.has_image():
            QGuiApplication.clipboard().setPixmap(self.view.pixmap())

    def vary_detail(self, item: Any) -> None:
        """Decode the item's stored composition again with a new decoder seed: no Stage C."""
        self.flow.vary_detail(item)

    def show_image(self, path: Path, switch: bool = True) -> None:
        pixmap = QPixmap(str(path))
        if pixmap.isNull():
            self.statusBar().showMessage(
                self.tr("Cannot show {0}: the file is missing or damaged.").format(path)
            )
            return
        self.view.show_file(path, pixmap)
        self.view.set_caption("")
        self.shown, self.flow.previewing = path, None
        if switch:
            self.center.setCurrentWidget(self.view)

    def _activated(self, item: Any) -> None:
        self.show_image(item.path)
        if getattr(item, "kind", "image") == "composition":
            self.view.set_caption(self.tr("Composition preview, not decoded yet: right-click it → Decode"))

    def open_settings(self) -> None:
        dialog = SettingsDialog(self.settings, self.auto_choice, self)
        dialog.accepted.connect(lambda: self.apply_settings(dialog.settings()))
        dialog.open()
        self.settings_dialog = dialog

    def apply_settings(self, settings: Settings) -> None:
        """Save and use new settings; the engine reloads between jobs if its part changed."""
        old, self.settings = self.settings, settings
        self.panel.show_prior(settings.prior)
        if self.store is not None:
            self.store.save(settings)
        app = QApplication.instance()
        if isinstance(app, QApplication):
            apply_theme(app, settings.theme)
        if settings.output_dir != old.output_dir:
            self._open_history()
        self.downloads.models_dir = settings.models_folder
        self.service.reconfigure(EngineConfig.from_settings(settings))
        where = ("prior", "decoder", "models_dir")
        if any(getattr(settings, name) != getattr(old, name) for name in where):
            self.start_engine()  # other checkpoints: download them first if they are not on disk

    # -- drag and drop ----------------------------------------------------------------------------
    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if self.gallery_actions.dropped(event.mimeData(), dry_run=True):
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        if self.gallery_actions.dropped(event.mimeData(), dry_run=False):
            event.acceptProposedAction()

    # -- worker reports ---------------------------------------------------------------------------
    def _engine_ready(self, description: str, reasons: str) -> None:
        self.auto_choice = self.tr("Now using {0}: {1}").format(description, reasons)

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
        for path in result.paths:
            self.history.add(path)
        where = self.flow.finished(result)
        if where != "sheet" and result.paths:
            self.show_image(result.paths[-1], switch=where == "show")
        note = " ".join(result.warnings)
        self.statusBar().showMessage(
            self.tr("Done in {0:.1f} s. {1}").format(result.seconds, note).strip(), 10_000
        )
        self._job_done()

    def _drop_preview(self, job_id: int) -> None:
        """A job that ended without an image leaves no preview behind: the last image comes back."""
        if self.flow.previewing != job_id:
            return
        self.flow.previewing = None
        if self.shown is not None and self.shown.is_file():
            self.show_image(self.shown, switch=False)
        else:
            self.view.set_pixmap(QPixmap())
            self.view.set_caption("")

    def _job_failed(self, error: JobError) -> None:
        self._drop_preview(error.job_id)
        for path in error.paths:  # written before the failure: listed like any other
            self.history.add(path)
        self._job_done()
        if error.missing_files:
            self.start_engine()
            return
        box = QMessageBox(QMessageBox.Icon.Warning, self.tr("Could not generate"), error.message, parent=self)
        if self.log_file is not None:
            box.setInformativeText(self.tr("Details are in the log: {0}").format(self.log_file))
        box.setDetailedText(error.details)
        box.open()
        self.error_box = box

    def _job_cancelled(self, job_id: int) -> None:
        self._drop_preview(job_id)
        self.statusBar().showMessage(self.tr("Cancelled."), 5_000)
        self._job_done()

    # -- shutdown ---------------------------------------------------------------------------------
    def closeEvent(self, event: QCloseEvent) -> None:
        self.place.save()
        if self.service.busy:
            self.engine_label.setText(self.tr("Cancelling…"))
        self.service.shutdown()
        self.history.shutdown()
        self.downloads.shutdown()
        event.accept()
