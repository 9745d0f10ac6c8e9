"""The gallery's side of the main window: parameters read from images (dropped, opened, pasted, copied),
delete and undo, export, the context menus of the gallery and of the image view, and what the image
view learns from the history (seeds, a batch's thumbnails). The history worker answers on its own thread;
what each answer is for is kept here by request id."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QMimeData, QObject, QPoint, QTimer, QUrl
from PySide6.QtGui import QDesktopServices, QGuiApplication
from PySide6.QtWidgets import QFileDialog, QMenu

from wuerstchen_desktop.core.imagefile.parameters_text import format_parameters
from wuerstchen_desktop.core.imagefile.reuse import carry_over
from wuerstchen_desktop.core.jobs.job import JobKind, JobResult
from wuerstchen_desktop.ui.compose_flow import VARY_STRONG, VARY_SUBTLE
from wuerstchen_desktop.ui.gallery import THUMB

if TYPE_CHECKING:
    from wuerstchen_desktop.ui.main_window import MainWindow

IMAGE_FILTER = "Images (*.png *.jpg *.jpeg *.webp)"


@dataclass(frozen=True)
class _Shown:
    """A file in the image view the history has not listed yet: all a variation needs is its path."""

    path: Path


class HistoryActions(QObject):
    """Everything the window does with history items and image files, other than making images."""

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.w = window
        self.undo_token: str | None = None
        self.reads: dict[int, str] = {}  # history read request -> what to do with the answer
        # The worker's signals go to methods of objects on the GUI thread, never to lambdas: a lambda has no
        # thread, so Qt would run it on the history thread, where touching a widget crashes the app.
        h = window.history.worker
        h.opened.connect(self.opened)
        h.added.connect(self.added)
        h.changed.connect(window.gallery.model.replace)
        h.removed.connect(self.removed)
        h.restored.connect(self.restored)
        h.thumbnail_ready.connect(self.thumbnail_ready)
        h.parameters_read.connect(self.parameters_read)
        h.exported.connect(self.exported)
        h.failed.connect(self.failed)
        # Before the window's own slots (connected later): the view knows the batch and the item first.
        window.service.job_finished.connect(self.job_finished)
        window.gallery.item_activated.connect(window.view.know)
        window.view.batch_picked.connect(window.show_image)
        window.view.menu_requested.connect(self.view_menu)
        window.flow.sheet.image_requested.connect(window.show_image)
        window.flow.sheet.composition_shown.connect(self.composition_shown)
        h.decoded_found.connect(window.flow.sheet.mark_decoded)

    def copy_parameters(self) -> None:
        item = self.w.gallery.current_item()
        if item is not None:
            self.read(self.w.history.read_file(item.path), "copy")

    def open_image(self) -> None:
        name, _ = QFileDialog.getOpenFileName(
            self.w, self.tr("Open an image"), str(self.w.out_dir), IMAGE_FILTER
        )
        if name:
            self.read(self.w.history.read_file(Path(name)), "use")

    def paste_parameters(self) -> None:
        text = QGuiApplication.clipboard().text()
        if text.strip():
            self.read(self.w.history.read_text(text), "use")

    def delete_current(self) -> None:
        item = self.w.gallery.current_item()
        if item is not None and (self.w.gallery.view.hasFocus() or self.w.view.hasFocus()):
            self.w.history.delete(item.id)

    def undo_delete(self) -> None:
        if self.undo_token is not None:
            self.w.history.restore(self.undo_token)
            self.undo_token = None
            self.w.undo_button.hide()

    def export_clean(self, item: Any, folder: Path | None = None) -> None:
        """A copy to share, with the prompt, parameters and latent stripped."""
        if folder is None:
            chosen = QFileDialog.getExistingDirectory(self.w, self.tr("Export to"), str(item.path.parent))
            if not chosen:
                return
            folder = Path(chosen)
        self.w.history.export_clean(item.id, folder)

    def dropped(self, mime: QMimeData, dry_run: bool) -> bool:
        files = [Path(u.toLocalFile()) for u in mime.urls() if u.isLocalFile()]
        if files:
            if not dry_run:
                self.read(self.w.history.read_file(files[0]), "use")
            return True
        if mime.hasText() and mime.text().strip():
            if not dry_run:
                self.read(self.w.history.read_text(mime.text()), "use")
            return True
        return False

    # -- answers from the history thread --------------------------------------------------------------
    def read(self, request: int, purpose: str) -> None:
        self.reads[request] = purpose

    def parameters_read(self, request: int, found: Any, error: str | None) -> None:
        purpose = self.reads.pop(request, None)
        if purpose is None:
            return
        if error is not None:
            self.w.statusBar().showMessage(error, 15_000)
            return
        if purpose == "copy":
            text = format_parameters(found.record) if found.record is not None else found.prompt
            QGuiApplication.clipboard().setText(text)
            return
        params, notes = carry_over(found, self.w.panel.current_or_default())
        self.w.panel.set_params(params)
        message = " ".join(notes) or self.tr("All settings carried over.")
        self.w.statusBar().showMessage(message, 15_000)
        self.w.panel.show_note(" ".join(notes))

    def opened(self, _count: int) -> None:
        self.w.gallery.model.reload()

    def exported(self, path: Path) -> None:
        self.w.statusBar().showMessage(self.tr("Exported {0}").format(path), 10_000)

    def failed(self, message: str) -> None:
        self.w.statusBar().showMessage(message, 10_000)

    def added(self, item: Any) -> None:
        self.w.gallery.model.insert_newest(item)
        self._tell_view(item)

    def restored(self, item: Any) -> None:
        self.w.gallery.model.put_back(item)
        self._tell_view(item)

    def _tell_view(self, item: Any) -> None:
        view = self.w.view
        view.know(item)
        if view.strip.know(item.id, item.path):
            self.w.history.thumbnail(item.id, THUMB, self.w.gallery.model.scale)

    def composition_shown(self, item: Any) -> None:
        if item.id >= 0:  # indexed (a provisional tile's item has a negative id)
            self.w.history.find_decoded(item.id)

    def thumbnail_ready(self, item_id: int, _px: int, data: bytes) -> None:
        self.w.view.strip.set_thumbnail(item_id, data)

    def job_finished(self, result: JobResult) -> None:
        if result.kind is not JobKind.COMPOSE and result.paths:
            self.w.view.set_batch(list(result.paths))

    def removed(self, item_id: int, token: str) -> None:
        self.w.gallery.model.remove(item_id)
        self.undo_token = token
        self.w.undo_button.show()
        self.w.statusBar().showMessage(self.tr("Deleted. Undo with Ctrl+Z."), 15_000)
        QTimer.singleShot(30_000, self.w.undo_button.hide)

    def menu(self, pos: QPoint) -> None:
        index = self.w.gallery.view.indexAt(pos)
        if not index.isValid():
            return
        self.w.gallery.view.setCurrentIndex(index)
        item = self.w.gallery.current_item()
        menu = QMenu(self.w)
        menu.addAction(
            self.tr("Use all settings"), lambda: self.read(self.w.history.read_file(item.path), "use")
        )
        menu.addAction(self.tr("Use prompt"), lambda: self.use_prompt(item))
        if item.seed is not None:
            menu.addAction(self.tr("Use seed"), lambda: self.w.panel.set_seed(item.seed))
        self.w.flow.add_menu_actions(menu, item)
        menu.addSeparator()
        menu.addAction(self.w.copy_image_action)
        menu.addAction(self.w.copy_params_action)
        menu.addAction(self.tr("Export without metadata…"), lambda: self.export_clean(item))
        menu.addAction(
            self.tr("Show in folder"),
            lambda: QDesktopServices.openUrl(QUrl.fromLocalFile(str(item.path.parent))),
        )
        star = self.tr("Remove from favourites") if item.favourite else self.tr("Add to favourites")
        menu.addAction(star, lambda: self.w.history.set_favourite(item.id, not item.favourite))
        menu.addSeparator()
        menu.addAction(self.tr("Delete"), lambda: self.w.history.delete(item.id))
        menu.exec(self.w.gallery.view.viewport().mapToGlobal(pos))

    def image_menu(self) -> QMenu:
        """The image view's menu: what can be done with the file it shows (not with a live preview)."""
        view, menu = self.w.view, QMenu(self.w)
        path = view.path if view.has_image() else None
        item = view.item() or (_Shown(path) if path is not None else None)
        kind, latent = getattr(item, "kind", "image"), getattr(item, "has_latent", True)
        for label, strength, tip in (
            (self.tr("Vary (subtle)"), VARY_SUBTLE, self.tr("A new image close to this one")),
            (self.tr("Vary (strong)"), VARY_STRONG, self.tr("A new image on this one's layout")),
        ):
            action = menu.addAction(label, functools.partial(self.w.flow.vary_picture, item, strength))
            action.setEnabled(item is not None and kind == "image" and latent)
            action.setToolTip(tip)
        if item is not None:
            self.w.flow.add_upscale_action(menu, item)
        menu.addSeparator()
        copy = menu.addAction(self.tr("Copy image"), self.w.copy_image)
        folder = menu.addAction(
            self.tr("Show in folder"),
            lambda: QDesktopServices.openUrl(QUrl.fromLocalFile(str(path.parent if path else ""))),
        )
        for action in (copy, folder):
            action.setEnabled(path is not None)
        menu.addSeparator()
        menu.addAction(self.w.menus.fit)
        return menu

    def view_menu(self, pos: QPoint) -> None:
        self.image_menu().exec(pos)

    def use_prompt(self, item: Any) -> None:
        self.w.panel.prompt.set_prompt(item.prompt)
        self.w.panel.negative.setPlainText(item.negative_prompt)
