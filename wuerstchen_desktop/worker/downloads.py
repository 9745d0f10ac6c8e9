"""First-run checks, downloads and folder imports, on their own thread. Cancel is a threading.Event the
download checks about once a second, so it works while the thread is busy."""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QThread, Signal, Slot

from wuerstchen_desktop.core.errors import Cancelled, WuerstchenError

log = logging.getLogger(__name__)

PROGRESS_INTERVAL_S = 0.1


class DownloadWorker(QObject):
    checked = Signal(object)  # list of repository ids still missing (empty: ready)
    planned = Signal(object)  # core.download.DownloadPlan
    progress = Signal(object)  # core.download.DownloadProgress
    finished = Signal()
    failed = Signal(str)
    cancelled = Signal()
    imported = Signal(str, str)  # "prior" or "decoder", the folder
    counter_ready = Signal(object)  # core.tokens.TokenCounter, or None

    def __init__(self, cancel: threading.Event) -> None:
        super().__init__()
        self.cancel = cancel

    @Slot(str, str)
    def check(self, prior: str, decoder: str) -> None:
        from wuerstchen_desktop.core import hubcache
        from wuerstchen_desktop.core.catalogue import repos_needed
        from wuerstchen_desktop.core.checkpoints import REPO_ID

        try:
            # Local folders are not downloaded: if one is missing, the engine says so when it loads.
            repos = [r for r in repos_needed(prior, decoder) if REPO_ID.match(r) and not Path(r).exists()]
            self.checked.emit([r for r in repos if not hubcache.local_status(r).complete])
        except WuerstchenError as exc:
            self.failed.emit(str(exc))

    @Slot(object, bool)
    def plan(self, repos: list[str], offline: bool) -> None:
        from wuerstchen_desktop.core.catalogue import OPTIONAL
        from wuerstchen_desktop.core.download import plan

        if offline:
            self.failed.emit(
                self.tr(
                    "The model files are not on this computer, and the app is set to work offline. "
                    "Use a folder you already have, or turn offline mode off in the settings."
                )
            )
            return
        try:
            # The live-preview model comes along when missing; if it cannot, the plan's warnings say so.
            self.planned.emit(plan(repos, optional=list(OPTIONAL)))
        except WuerstchenError as exc:
            self.failed.emit(str(exc))
        except Exception as exc:  # reported as a sentence; the window stays usable
            log.exception("planning the download failed")
            self.failed.emit(self.tr("Could not prepare the download: {0}").format(exc))

    @Slot(object)
    def download(self, the_plan: Any) -> None:
        from wuerstchen_desktop.core.download import download

        self.cancel.clear()
        last = [0.0]

        def report(p: Any) -> None:
            now = time.monotonic()
            if now - last[0] >= PROGRESS_INTERVAL_S or p.done >= p.total:
                last[0] = now
                self.progress.emit(p)

        try:
            download(the_plan, on_progress=report, cancel=self.cancel)
            self.finished.emit()
        except Cancelled:
            self.cancelled.emit()
        except WuerstchenError as exc:
            self.failed.emit(str(exc))
        except Exception as exc:
            log.exception("download failed")
            self.failed.emit(self.tr("The download failed: {0}").format(exc))

    @Slot(str)
    def load_counter(self, prior: str) -> None:
        from wuerstchen_desktop.core.tokens import counter_for_prior

        try:
            self.counter_ready.emit(counter_for_prior(prior))
        except Exception:  # a token count is a convenience: never an error dialog
            log.exception("no token counter for %s", prior)
            self.counter_ready.emit(None)

    @Slot(object)
    def import_folder(self, folder: Path) -> None:
        from wuerstchen_desktop.core.checkpoints import DecoderSource, import_folder

        try:
            source = import_folder(folder)
        except WuerstchenError as exc:
            self.failed.emit(str(exc))
            return
        kind = "decoder" if isinstance(source, DecoderSource) else "prior"
        self.imported.emit(kind, str(folder))


class DownloadService(QObject):
    _check = Signal(str, str)
    _plan = Signal(object, bool)
    _download = Signal(object)
    _import = Signal(object)
    _counter = Signal(str)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.cancel_event = threading.Event()
        self._thread = QThread()
        self._thread.setObjectName("downloads")
        self.worker = DownloadWorker(self.cancel_event)
        self.worker.moveToThread(self._thread)
        self._check.connect(self.worker.check)
        self._plan.connect(self.worker.plan)
        self._download.connect(self.worker.download)
        self._import.connect(self.worker.import_folder)
        self._counter.connect(self.worker.load_counter)
        self._thread.finished.connect(self.worker.deleteLater)
        self._thread.start()

    def check(self, prior: str, decoder: str) -> None:
        self._check.emit(prior, decoder)

    def plan(self, repos: list[str], offline: bool) -> None:
        self._plan.emit(repos, offline)

    def download(self, the_plan: Any) -> None:
        self.cancel_event.clear()
        self._download.emit(the_plan)

    def import_folder(self, folder: Path) -> None:
        self._import.emit(folder)

    def load_counter(self, prior: str) -> None:
        self._counter.emit(prior)

    def cancel(self) -> None:
        self.cancel_event.set()

    def shutdown(self, timeout_ms: int = 10_000) -> bool:
        self.cancel_event.set()
        self._thread.quit()
        return bool(self._thread.wait(timeout_ms))
