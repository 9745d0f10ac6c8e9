"""The history index and image-file reading, on their own thread, so SQLite, rescans and thumbnails never
stall the window. The window calls the service; results come back as signals with plain data."""

from __future__ import annotations

import atexit
import logging
import os
import sqlite3
import sys
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QThread, Signal, Slot

from wuerstchen_desktop.core.errors import OutputFolderError, WuerstchenError
from wuerstchen_desktop.core.library.outputdir import check_output_dir

log = logging.getLogger(__name__)

PAGE = 120
_STUCK: list[QObject] = []  # threads that did not finish on close: destroying a running QThread aborts


def _leave_stuck_threads() -> None:
    """At exit with a history thread still blocked in the OS, leave without destroying it (Qt would abort
    the process, and the crash handler would call a clean close a crash)."""
    if any(isinstance(t, QThread) and t.isRunning() for t in _STUCK):
        logging.shutdown()
        for stream in (sys.stdout, sys.stderr):
            if stream is not None:
                stream.flush()
        os._exit(1)


class HistoryWorker(QObject):
    opened = Signal(int)  # items in the folder
    page = Signal(int, object)  # request id, list[Item]
    thumbnail_ready = Signal(int, int, bytes)  # item id, pixel size, WebP bytes
    added = Signal(object)  # Item
    removed = Signal(int, str)  # item id, trash token (for undo)
    restored = Signal(object)  # Item
    changed = Signal(object)  # Item
    parameters_read = Signal(int, object, object)  # request id, ImageParameters or None, error text or None
    exported = Signal(object)  # the shared copy's path
    decoded_found = Signal(object, object)  # a composition's path, the path of the image decoded from it
    failed = Signal(str)

    def __init__(self) -> None:
        super().__init__()
        self._history: Any = None

    def _run(self, action: Any) -> Any:
        try:
            return action()
        except sqlite3.DatabaseError as exc:
            self._recover(exc)
        except WuerstchenError as exc:
            log.warning("history: %s", exc)
            self.failed.emit(str(exc))
        except Exception as exc:  # a broken file or index must never take the thread down
            log.exception("history failed")
            self.failed.emit(self.tr("The history could not be read: {0}").format(exc))
        return None

    def _recover(self, exc: sqlite3.DatabaseError) -> None:
        """Damage found in use (the thumbnail cache, or a page gone bad since opening): rebuild the index
        from the files, and tell the window to list it again, since item ids change."""
        from wuerstchen_desktop.core.library.index import is_damage

        if not is_damage(exc) or self._history is None:
            log.exception("history failed")
            self.failed.emit(self.tr("The history could not be read: {0}").format(exc))
            return
        try:
            self._history.rebuild(exc)
        except Exception as again:
            log.exception("rebuilding the history index failed")
            self.failed.emit(self.tr("The history could not be read: {0}").format(again))
            return
        self.opened.emit(self._history.count())

    @Slot(object, object)
    def open(self, output: Path, index_path: Path | None) -> None:
        from wuerstchen_desktop.core.library.history import History

        def do() -> None:
            self.close()  # if the new folder fails to open, no request may reach the old, closed index
            try:  # here, not on the GUI thread: the probe file can wait on a sleeping network drive
                check_output_dir(output)
            except OutputFolderError as exc:
                self.failed.emit(str(exc))  # until the person picks another folder, every job will fail
                if not Path(output).is_dir():
                    return
            self._history = History(output, index_path)
            self.opened.emit(self._history.count())

        self._run(do)

    @Slot(int, str, bool, int, int, str)
    def list_page(
        self, request: int, query: str, favourites: bool, offset: int, limit: int, kind: str = ""
    ) -> None:
        if self._history is not None:
            items = self._run(
                lambda: self._history.items(query, favourites, limit=limit, offset=offset, kind=kind or None)
            )
            self.page.emit(request, items or [])

    @Slot(int, int, float)
    def thumbnail(self, item_id: int, logical: int, scale: float) -> None:
        if self._history is not None:
            data = self._run(lambda: self._history.thumbnail(item_id, logical, scale))
            if data:
                self.thumbnail_ready.emit(item_id, round(logical * scale), data)

    @Slot(object)
    def add(self, path: Path) -> None:
        if self._history is not None:
            item = self._run(lambda: self._history.add(path))
            if item is not None:
                self.added.emit(item)

    @Slot(int)
    def delete(self, item_id: int) -> None:
        if self._history is not None:
            entry = self._run(lambda: self._history.delete(item_id))
            if entry is not None:
                self.removed.emit(item_id, entry.token)

    @Slot(str)
    def restore(self, token: str) -> None:
        if self._history is not None:
            item = self._run(lambda: self._history.restore(token))
            if item is not None:
                self.restored.emit(item)

    @Slot(int, bool)
    def set_favourite(self, item_id: int, on: bool) -> None:
        if self._history is not None:
            self._run(lambda: self._history.set_favourite(item_id, on))
            item = self._run(lambda: self._history.get(item_id))
            if item is not None:
                self.changed.emit(item)

    @Slot(int)
    def find_decoded(self, item_id: int) -> None:
        if self._history is not None:
            composition = self._run(lambda: self._history.get(item_id))
            image = self._run(lambda: self._history.decoded_from(item_id)) if composition else None
            if composition is not None and image is not None:
                self.decoded_found.emit(composition.path, image.path)

    @Slot(int, object)
    def export_clean(self, item_id: int, folder: Path) -> None:
        from wuerstchen_desktop.core.imagefile.write import export_clean

        if self._history is not None:
            item = self._run(lambda: self._history.get(item_id))
            if item is not None:
                path = self._run(lambda: export_clean(item.path, Path(folder)))
                if path is not None:
                    self.exported.emit(path)

    @Slot(int, object)
    def read_file(self, request: int, path: Path) -> None:
        from wuerstchen_desktop.core.imagefile.read import read_parameters

        try:
            self.parameters_read.emit(request, read_parameters(Path(path)), None)
        except WuerstchenError as exc:
            self.parameters_read.emit(request, None, str(exc))
        except Exception as exc:  # hostile files end here, with a sentence
            log.exception("reading %s failed", path)
            self.parameters_read.emit(request, None, self.tr("Cannot read {0}: {1}").format(path, exc))

    @Slot(int, str)
    def read_text(self, request: int, text: str) -> None:
        from wuerstchen_desktop.core.imagefile.parameters_text import parse_parameters

        try:
            self.parameters_read.emit(request, parse_parameters(text), None)
        except WuerstchenError as exc:
            self.parameters_read.emit(request, None, str(exc))

    @Slot()
    def close(self) -> None:
        if self._history is not None:
            self._history.close()
            self._history = None


class HistoryService(QObject):
    """The window's handle on the history thread. Requests are queued signals; answers are signals."""

    _open = Signal(object, object)
    _list = Signal(int, str, bool, int, int, str)
    _thumb = Signal(int, int, float)
    _add = Signal(object)
    _delete = Signal(int)
    _restore = Signal(str)
    _favourite = Signal(int, bool)
    _read_file = Signal(int, object)
    _read_text = Signal(int, str)
    _close = Signal()
    _export = Signal(int, object)
    _find_decoded = Signal(int)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._requests = 0
        self._thread = QThread()
        self._thread.setObjectName("history")
        self.worker = HistoryWorker()
        self.worker.moveToThread(self._thread)
        for signal, slot in (
            (self._open, self.worker.open), (self._list, self.worker.list_page),
            (self._thumb, self.worker.thumbnail), (self._add, self.worker.add),
            (self._delete, self.worker.delete), (self._restore, self.worker.restore),
            (self._favourite, self.worker.set_favourite), (self._read_file, self.worker.read_file),
            (self._read_text, self.worker.read_text),
            (self._close, self.worker.close), (self._export, self.worker.export_clean),
            (self._find_decoded, self.worker.find_decoded),
        ):  # fmt: skip
            signal.connect(slot)
        self._thread.finished.connect(self.worker.deleteLater)
        self._thread.start()

    def next_request(self) -> int:
        self._requests += 1
        return self._requests

    def open(self, output: Path, index_path: Path | None = None) -> None:
        self._open.emit(output, index_path)

    def list_page(
        self, request: int, query: str, favourites: bool, offset: int, limit: int = PAGE, kind: str = ""
    ) -> None:
        """A page of the history; ``kind`` "image" or "composition" keeps only that kind, "" lists all."""
        self._list.emit(request, query, favourites, offset, limit, kind)

    def thumbnail(self, item_id: int, logical: int, scale: float) -> None:
        self._thumb.emit(item_id, logical, scale)

    def add(self, path: Path) -> None:
        self._add.emit(path)

    def delete(self, item_id: int) -> None:
        self._delete.emit(item_id)

    def restore(self, token: str) -> None:
        self._restore.emit(token)

    def set_favourite(self, item_id: int, on: bool) -> None:
        self._favourite.emit(item_id, on)

    def export_clean(self, item_id: int, folder: Path) -> None:
        self._export.emit(item_id, folder)

    def find_decoded(self, item_id: int) -> None:
        """Ask which image was decoded from the composition ``item_id``; ``decoded_found`` answers if any."""
        self._find_decoded.emit(item_id)

    def read_file(self, path: Path) -> int:
        request = self.next_request()
        self._read_file.emit(request, path)
        return request

    def read_text(self, text: str) -> int:
        request = self.next_request()
        self._read_text.emit(request, text)
        return request

    def shutdown(self, timeout_ms: int = 10_000) -> bool:
        """Close the index and stop the thread, waiting for the work in hand. False if the thread is
        still blocked after ``timeout_ms``: it is then kept alive, never destroyed while running."""
        self._close.emit()
        self._thread.quit()
        if self._thread.wait(timeout_ms):
            return True
        log.error("the history thread is still busy after %d ms; leaving it behind", timeout_ms)
        if not _STUCK:
            atexit.register(_leave_stuck_threads)
        _STUCK.extend((self._thread, self.worker))
        return False
