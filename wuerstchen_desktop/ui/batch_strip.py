"""The strip under the image view: every image of the batch just made, the one shown highlighted; a click
shows another. Thumbnails come from the history thread (``set_thumbnail``), never read here."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QColor, QIcon, QPalette, QPixmap
from PySide6.QtWidgets import QListView, QListWidget, QListWidgetItem, QWidget

ICON = 64  # logical pixels of a thumbnail in the strip
HEIGHT = ICON + 22
PATH_ROLE = Qt.ItemDataRole.UserRole + 1


class BatchStrip(QListWidget):
    picked = Signal(object)  # the Path clicked

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAccessibleName(self.tr("Images of this batch"))
        self.setViewMode(QListView.ViewMode.IconMode)
        self.setFlow(QListView.Flow.LeftToRight)
        self.setWrapping(False)
        self.setMovement(QListView.Movement.Static)
        self.setIconSize(QSize(ICON, ICON))
        self.setGridSize(QSize(ICON + 10, ICON + 10))
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAsNeeded)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setFixedHeight(HEIGHT)
        self.setFrameShape(QListWidget.Shape.NoFrame)
        self.viewport().setBackgroundRole(QPalette.ColorRole.Window)
        self.setSelectionMode(QListWidget.SelectionMode.SingleSelection)
        self.itemClicked.connect(self._clicked)
        self.itemActivated.connect(self._clicked)
        self.ids: dict[int, Path] = {}  # history item id -> file, for thumbnails

    def paths(self) -> list[Path]:
        return [self.item(i).data(PATH_ROLE) for i in range(self.count())]

    def set_paths(self, paths: list[Path]) -> None:
        self.clear()
        self.ids.clear()
        blank = QPixmap(ICON, ICON)
        blank.fill(QColor(128, 128, 128, 60))
        for i, path in enumerate(paths):
            entry = QListWidgetItem(QIcon(blank), "")
            entry.setData(PATH_ROLE, path)
            entry.setToolTip(self.tr("Image {0} of {1}: {2}").format(i + 1, len(paths), path.name))
            entry.setData(Qt.ItemDataRole.AccessibleTextRole, entry.toolTip())
            self.addItem(entry)

    def select_path(self, path: Path | None) -> None:
        for i in range(self.count()):
            if self.item(i).data(PATH_ROLE) == path:
                self.setCurrentRow(i)
                return
        self.clearSelection()

    def know(self, item_id: int, path: Path) -> bool:
        """Remember which history item is which file; True when the file is in the strip."""
        if path in self.paths():
            self.ids[item_id] = path
            return True
        return False

    def set_thumbnail(self, item_id: int, data: bytes) -> None:
        path = self.ids.get(item_id)
        pixmap = QPixmap()
        if path is None or not pixmap.loadFromData(data):
            return
        pixmap.setDevicePixelRatio(self.devicePixelRatioF() or 1.0)
        for i in range(self.count()):
            if self.item(i).data(PATH_ROLE) == path:
                self.item(i).setIcon(QIcon(pixmap))

    def _clicked(self, entry: QListWidgetItem) -> None:
        self.picked.emit(entry.data(PATH_ROLE))
