"""The main window: prompt panel, image view, history gallery, the queue, the menu bar (menus.py) and a
status bar (status_area.py) that always says what is happening and how long it will take."""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import Any

from PySide6.QtCore import QSettings, Qt
from PySide6.QtGui import QCloseEvent, QDragEnterEvent, QDropEvent, QGuiApplication, QPixmap
from PySide6.QtWidgets import QApplication, QDockWidget, QMainWindow, QMessageBox, QSplitter, QTabWidget

from wuerstchen_desktop.core.jobs.job import EngineConfig, JobKind
from wuerstchen_desktop.core.settings import Settings
from wuerstchen_desktop.ui.closing import Closer
from wuerstchen_desktop.ui.compose_flow import ComposeFlow
from wuerstchen_desktop.ui.first_run import FirstRunDialog
from wuerstchen_desktop.ui.gallery import GalleryPanel
from wuerstchen_desktop.ui.history_actions import HistoryActions
from wuerstchen_desktop.ui.image_view import ImageView
from wuerstchen_desktop.ui.job_reports import JobReports
from wuerstchen_desktop.ui.menus import Menus
from wuerstchen_desktop.ui.prompt_panel import PromptPanel
from wuerstchen_desktop.ui.queue_panel import QueuePanel
from wuerstchen_desktop.ui.settings_dialog import SettingsDialog, SettingsStore
from wuerstchen_desktop.ui.status_area import StatusArea
from wuerstchen_desktop.ui.theme import apply_theme
from wuerstchen_desktop.ui.window_geometry import WindowPlace
from wuerstchen_desktop.worker.downloads import DownloadService
from wuerstchen_desktop.worker.generation import GenerationService
from wuerstchen_desktop.worker.history import HistoryService
from wuerstchen_desktop.worker.run_on import RunOn

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
        self.error_box: QMessageBox | None = None  # the last job error shown
        self.shown: Path | None = None  # the file in the image view (not a live preview)
        self.closer = Closer(self)
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
        self.status = StatusArea(self, service)
        st = self.status
        self.engine_label, self.progress, self.cancel_button = st.engine_label, st.progress, st.cancel_button
        self.undo_button, self.previewer_button, self.memory_label = (
            st.undo_button,
            st.previewer_button,
            st.memory_label,
        )
        self.queue = QueuePanel(service)
        self.queue_dock = QDockWidget(self.tr("Queue"), self)
        self.queue_dock.setObjectName("queue")
        self.queue_dock.setWidget(self.queue)
        self.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, self.queue_dock)
        self.resizeDocks([self.queue_dock], [self.queue.sizeHint().height()], Qt.Orientation.Vertical)
        self.gallery_actions = HistoryActions(self)
        self.menus = Menus(self)
        self.copy_image_action, self.copy_params_action = self.menus.copy_image, self.menus.copy_params
        self.reports = JobReports(self)
        self._connect()
        self._open_history()
        self.place = WindowPlace(self, splitter, place)  # where it was, inside the screen
        self.place.restore()
        self.place.remember("panel/advanced", self.panel.advanced.toggle)
        self._restore_queue()
        self.panel.show_prior(settings.prior)
        self.panel.prompt.setFocus()

    def _connect(self) -> None:
        self.panel.generate_requested.connect(self.generate)
        self.panel.compose_requested.connect(self.flow.compose)
        self.panel.picture.message.connect(self.statusBar().showMessage)
        self.panel.picture.encoder_wanted.connect(self.get_encoder)
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
        s.engine_ready.connect(self._engine_ready)
        s.queue_changed.connect(self.panel.set_busy_hint)
        self.queue.cancel_all_button.clicked.connect(self.menus.cancel_all.trigger)
        self.queue.message.connect(lambda text: self.statusBar().showMessage(text, 5_000))
        self.menus.show_queue.triggered.connect(self._save_queue)
        # The history worker's answers go to self.gallery_actions.
        self.downloads.worker.checked.connect(self._checked)
        self.downloads.worker.counter_ready.connect(self.panel.set_token_counter)

    # -- start-up ---------------------------------------------------------------------------------
    def start_engine(self) -> None:
        """Load the engine if its files are on disk; otherwise offer to download them (first run)."""
        if isinstance(self.service, RunOn) and self.service.on_server:
            self.service.warm_up()  # the server has its own models
            return
        self.downloads.check(self.settings.prior, self.settings.decoder)

    def _checked(self, missing: list[str]) -> None:
        if not missing:
            self._models_ready()
            return
        self.engine_label.setText(self.tr("Model files needed"))
        if self.first_run is not None:
            self.first_run.close()
        dialog = FirstRunDialog(self.downloads, missing, self.settings.offline, self)
        dialog.ready.connect(self._models_ready)  # the token count, too, without waiting for a restart
        dialog.folders_chosen.connect(self._folder_chosen)
        dialog.go_online.connect(self._go_online)
        dialog.show()
        self.first_run = dialog

    def _models_ready(self) -> None:
        self.downloads.load_counter(self.settings.prior)
        self.service.warm_up(self.panel.current_or_default())

    def get_previewer(self) -> None:
        """Fetch the optional live-preview model (models downloaded before it was offered lack it)."""
        if self.first_run is not None:
            self.first_run.close()
        dialog = FirstRunDialog(self.downloads, [], self.settings.offline, self, previewer_only=True)
        dialog.ready.connect(self.service.refresh_previewer)
        dialog.ready.connect(self.previewer_button.hide)
        dialog.show()
        self.first_run = dialog

    def get_encoder(self) -> None:
        """Fetch the optional image encoder (start from a picture): size and free space first."""
        if self.first_run is not None:
            self.first_run.close()
        self.first_run = FirstRunDialog(self.downloads, [], self.settings.offline, self, encoder_only=True)
        self.first_run.ready.connect(self.panel.encoder_arrived)
        self.first_run.show()

    def _go_online(self) -> None:
        self.apply_settings(dataclasses.replace(self.settings, offline=False))
        self.start_engine()  # asks the server now

    def _folder_chosen(self, found: dict[str, str]) -> None:
        if self.first_run is not None:  # the user's folders: a dialog asks again for one still missing
            self.first_run.close()
            self.first_run = None
        prior, decoder = found.get("prior", self.settings.prior), found.get("decoder", self.settings.decoder)
        self.apply_settings(dataclasses.replace(self.settings, prior=prior, decoder=decoder))  # checks again

    # -- actions ----------------------------------------------------------------------------------
    def generate(self) -> None:
        jobs = self.panel.jobs()  # one per line of the prompt box, each cancelled or moved on its own
        if jobs is None:
            return
        for params in jobs:
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
        self.menus.show_theme(settings.theme)
        if settings.output_dir != old.output_dir:
            self._open_history()
        self.downloads.models_dir = settings.models_folder
        self.service.reconfigure(EngineConfig.from_settings(settings))
        moved = isinstance(self.service, RunOn) and self.service.use(settings)  # Settings → Run on
        where = ("prior", "decoder", "models_dir")
        if moved or any(getattr(settings, name) != getattr(old, name) for name in where):
            self.start_engine()  # other checkpoints: download them first if they are not on disk

    def _restore_queue(self) -> None:
        stored = self.place.settings.value("window/queue", True) if self.place.settings is not None else True
        self.queue_dock.setVisible(str(stored).lower() != "false")

    def _save_queue(self, shown: bool) -> None:
        if self.place.settings is not None:
            self.place.settings.setValue("window/queue", shown)

    # -- drag and drop ----------------------------------------------------------------------------
    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if self.gallery_actions.dropped(event.mimeData(), dry_run=True):
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        if self.gallery_actions.dropped(event.mimeData(), dry_run=False):
            event.acceptProposedAction()

    # -- worker reports ---------------------------------------------------------------------------------
    def _engine_ready(self, description: str, reasons: str) -> None:
        self.auto_choice = self.tr("Now using {0}: {1}").format(description, reasons)

    # -- shutdown ---------------------------------------------------------------------------------
    def closeEvent(self, event: QCloseEvent) -> None:
        self.closer.close_event(event)
