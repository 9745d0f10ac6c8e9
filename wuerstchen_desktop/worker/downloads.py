"""First-run checks, downloads and folder imports, on their own thread. Cancel is a threading.Event the
plan and the download check about once a second, so it works while the thread is busy; each plan or
download request gets its own, so a cancel never reaches the request after it."""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QThread, Signal, Slot

from wuerstchen_desktop.core.errors import Cancelled, NoRanges, Unreachable, WuerstchenError

log = logging.getLogger(__name__)

PROGRESS_INTERVAL_S = 0.1


def in_window(exc: WuerstchenError) -> str:
    """The error's sentence with the window's way to use one's own folders, not the command line's."""
    from wuerstchen_desktop.core.hub.http_failures import FOLDER_HINT

    return str(exc).replace(FOLDER_HINT, "Or use folders you already have (the button below).")


class DownloadWorker(QObject):
    checked = Signal(object)  # list of repository ids still missing (empty: ready)
    planned = Signal(object)  # core.hub.download.DownloadPlan
    progress = Signal(object)  # core.hub.download.DownloadProgress
    finished = Signal(object)  # the plan's warnings: sentences about optional or unverified files
    failed = Signal(str)
    cancelled = Signal()
    imported = Signal(object)  # {"prior": folder, "decoder": folder}, either or both
    counter_ready = Signal(object)  # core.engine.tokens.TokenCounter, or None
    whole_needed = Signal(str, object)  # why, and the plan for the whole checkpoint (the encoder's server)

    def __init__(self) -> None:
        super().__init__()
        self.closing = threading.Event()  # the app is closing: every request stops

    def _stop(self, cancel: threading.Event) -> Callable[[], bool]:
        return lambda: cancel.is_set() or self.closing.is_set()

    @Slot(str, str, object)
    def check(self, prior: str, decoder: str, cache_dir: Path | None) -> None:
        from wuerstchen_desktop.core.engine.checkpoints import REPO_ID
        from wuerstchen_desktop.core.hub import cache_layout
        from wuerstchen_desktop.core.hub.catalogue import repos_needed

        try:
            # Local folders are not downloaded: if one is missing, the engine says so when it loads.
            repos = [r for r in repos_needed(prior, decoder) if REPO_ID.match(r) and not Path(r).exists()]
            missing = [r for r in repos if not cache_layout.local_status(r, cache_dir=cache_dir).complete]
            self.checked.emit(missing)
        except WuerstchenError as exc:
            self.failed.emit(in_window(exc))

    @Slot(object, bool, object, object)
    def plan(self, repos: list[str], offline: bool, cancel: threading.Event, cache_dir: Path | None) -> None:
        from wuerstchen_desktop.core.hub.catalogue import OPTIONAL
        from wuerstchen_desktop.core.hub.download import plan

        if offline:
            self.failed.emit(
                self.tr(
                    "The model files are not on this computer, and the app is set to work offline. "
                    "Turn offline mode off to download them, or use folders you already have."
                )
            )
            return
        with self._reporting("planning the download", self.tr("Could not prepare the download: {0}")):
            try:
                # The live-preview model comes along when missing; if it cannot, the plan's warnings say so.
                stop = self._stop(cancel)
                the_plan = plan(repos, optional=list(OPTIONAL), cache_dir=cache_dir, cancel=stop)
                self.planned.emit(the_plan)
            except Unreachable:
                log.info("planning the download: the server cannot be reached", exc_info=True)
                self.failed.emit(
                    self.tr(
                        "This computer cannot reach the server the model files come from: it may not be "
                        "connected to the internet. Check the connection and press Retry, or use folders "
                        "you already have."
                    )
                )

    @Slot(object)
    def plan_encoder(self, data_dir: Path | None) -> None:
        from wuerstchen_desktop.core.engine.encoder_weights import plan_encoder

        try:
            self.planned.emit(plan_encoder(data_dir))
        except OSError as exc:
            self.failed.emit(self.tr("Cannot tell the free space for the image encoder: {0}").format(exc))

    @Slot(object, object)
    def download(self, the_plan: Any, cancel: threading.Event) -> None:
        from wuerstchen_desktop.core.engine.encoder_weights import EncoderPlan
        from wuerstchen_desktop.core.hub.download import download

        if isinstance(the_plan, EncoderPlan):
            self._encoder(the_plan, cancel)
            return
        report = self._throttled()
        with self._reporting("the download", self.tr("The download failed: {0}")):
            download(the_plan, on_progress=report, cancel=self._stop(cancel))
            self.finished.emit(list(the_plan.warnings))

    def _encoder(self, the_plan: Any, cancel: threading.Event) -> None:
        """The encoder's tensors by byte ranges; the whole checkpoint only once the user agreed to it."""
        import dataclasses

        from wuerstchen_desktop.core.engine.encoder_weights import (
            ByteProgress,
            fetch_encoder_weights,
            fetch_encoder_whole,
        )
        from wuerstchen_desktop.core.engine.image_encoder import check_shapes
        from wuerstchen_desktop.core.hub.lean_fetch import EFFNET_FILE, EFFNET_REPO

        bar = ByteProgress(self._throttled(), EFFNET_FILE, the_plan.to_fetch)
        source = Path(f"{EFFNET_REPO}/{EFFNET_FILE}")
        hint = "The published file is not the encoder this app knows; please report it."
        with self._reporting("the image encoder's download", self.tr("The download failed: {0}")):
            try:
                if the_plan.whole:
                    fetch_encoder_whole(the_plan.cache, cancelled=self._stop(cancel), on_bytes=bar)
                else:
                    fetch_encoder_weights(
                        the_plan.cache,
                        cancelled=self._stop(cancel),
                        on_bytes=bar,
                        check=lambda shapes: check_shapes(shapes, source, hint),
                    )
                bar.end()
                self.finished.emit([])
            except NoRanges as exc:
                plan = dataclasses.replace(the_plan, to_fetch=exc.size, whole=True)
                self.whole_needed.emit(exc.message, plan)

    @contextlib.contextmanager
    def _reporting(self, doing: str, failed: str) -> Iterator[None]:
        """How a request inside ends when it does not end well, told as signals: cancelled, or a
        sentence (``failed`` takes an unexpected error's text; its traceback goes to the log)."""
        try:
            yield
        except Cancelled:
            self.cancelled.emit()
        except WuerstchenError as exc:
            self.failed.emit(in_window(exc))
        except Exception as exc:
            log.exception("%s failed", doing)
            self.failed.emit(failed.format(exc))

    def _throttled(self) -> Callable[[Any], None]:
        """``progress`` every PROGRESS_INTERVAL_S at most; a change of phase and the last report always."""
        last: list[Any] = [0.0, None]  # when the last report went out, and that report

        def report(p: Any) -> None:
            now = time.monotonic()
            before = last[1]
            # A change of phase or note (the server asked to wait) always passes: it may be the only one.
            changed = before is None or (p.phase, p.note) != (before.phase, before.note)
            if changed or now - last[0] >= PROGRESS_INTERVAL_S or p.done >= p.total:
                last[0], last[1] = now, p
                self.progress.emit(p)

        return report

    @Slot(str, object)
    def load_counter(self, prior: str, cache_dir: Path | None) -> None:
        from wuerstchen_desktop.core.engine.tokens import counter_for_prior

        try:
            self.counter_ready.emit(counter_for_prior(prior, cache_dir))
        except Exception:  # a token count is a convenience: never an error dialog
            log.exception("no token counter for %s", prior)
            self.counter_ready.emit(None)

    @Slot(object, object)
    def import_folder(self, folder: Path, cache_dir: Path | None) -> None:
        """A checkpoint folder, or a folder that holds the prior's and the decoder's side by side."""
        from wuerstchen_desktop.core.engine.checkpoints import import_folders

        try:
            found = import_folders(folder, cache_dir)
        except WuerstchenError as exc:
            self.failed.emit(in_window(exc))
            return
        self.imported.emit(found)


class DownloadService(QObject):
    """The window's side of the download thread. ``models_dir`` is the Hub cache every request checks,
    downloads into and loads from (None: huggingface_hub's own); a new one applies to the next request."""

    _check = Signal(str, str, object)
    _plan = Signal(object, bool, object, object)
    _plan_encoder = Signal(object)
    _download = Signal(object, object)
    _import = Signal(object, object)
    _counter = Signal(str, object)

    def __init__(self, parent: QObject | None = None, models_dir: Path | None = None) -> None:
        super().__init__(parent)
        self.models_dir = models_dir
        self.cancel_event = threading.Event()
        self._thread = QThread()
        self._thread.setObjectName("downloads")
        self.worker = DownloadWorker()
        self.worker.moveToThread(self._thread)
        self._check.connect(self.worker.check)
        self._plan.connect(self.worker.plan)
        self._plan_encoder.connect(self.worker.plan_encoder)
        self._download.connect(self.worker.download)
        self._import.connect(self.worker.import_folder)
        self._counter.connect(self.worker.load_counter)
        self._thread.finished.connect(self.worker.deleteLater)
        self._thread.start()

    def check(self, prior: str, decoder: str) -> None:
        self._check.emit(prior, decoder, self.models_dir)

    def plan(self, repos: list[str], offline: bool) -> None:
        self.cancel_event = threading.Event()
        self._plan.emit(repos, offline, self.cancel_event, self.models_dir)

    def plan_encoder(self, data_dir: Path | None = None) -> None:
        """Size and free space for the image encoder (no network); ``data_dir`` None: the app's own."""
        self._plan_encoder.emit(data_dir)

    def download(self, the_plan: Any) -> None:
        self.cancel_event = threading.Event()
        self._download.emit(the_plan, self.cancel_event)

    def import_folder(self, folder: Path) -> None:
        self._import.emit(folder, self.models_dir)

    def load_counter(self, prior: str) -> None:
        self._counter.emit(prior, self.models_dir)

    def cancel(self) -> None:
        """Stop the plan or download asked for last (one still queued stops as it starts)."""
        self.cancel_event.set()

    def shutdown(self, timeout_ms: int = 10_000) -> bool:
        self.worker.closing.set()
        self._thread.quit()
        return bool(self._thread.wait(timeout_ms))
