"""The history gallery: thumbnails, newest first, with the actions an artist reaches for."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, QRect, QSize, Qt, Signal
from PySide6.QtGui import QIcon, QImageReader, QPainter, QPen, QPixmap
from PySide6.QtWidgets import (
    QListView,
    QListWidget,
    QListWidgetItem,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QWidget,
)

THUMB = 160
PATH_ROLE = Qt.ItemDataRole.UserRole
PARAMS_ROLE = Qt.ItemDataRole.UserRole + 1


def load_thumbnail(path: Path, size: int, ratio: float) -> QPixmap:
    """A thumbnail read at the size it is shown (decoding only what is needed), sharp on HiDPI."""
    reader = QImageReader(str(path))
    reader.setAutoTransform(True)
    full = reader.size()
    target = int(size * ratio)
    if full.isValid() and max(full.width(), full.height()) > target:
        reader.setScaledSize(full.scaled(target, target, Qt.AspectRatioMode.KeepAspectRatio))
    image = reader.read()
    if image.isNull():
        return QPixmap()
    pixmap = QPixmap.fromImage(image)
    pixmap.setDevicePixelRatio(ratio)
    return pixmap


class ThumbnailDelegate(QStyledItemDelegate):
    """Just the picture, centred in its cell, with a frame in the highlight colour when selected."""

    def paint(
        self, painter: QPainter, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex
    ) -> None:
        icon = index.data(Qt.ItemDataRole.DecorationRole)
        cell = QRect(option.rect).adjusted(3, 3, -3, -3)
        target = cell
        if isinstance(icon, QIcon):
            pixmap = icon.pixmap(cell.size())
            size = pixmap.deviceIndependentSize().toSize()
            target = QRect(
                cell.x() + (cell.width() - size.width()) // 2,
                cell.y() + (cell.height() - size.height()) // 2,
                size.width(),
                size.height(),
            )
            painter.drawPixmap(target.topLeft(), pixmap)
        if option.state & QStyle.StateFlag.State_Selected:
            painter.setPen(QPen(option.palette.highlight(), 3))
            painter.drawRect(target.adjusted(-2, -2, 1, 1))

    def sizeHint(self, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex) -> QSize:
        return QSize(THUMB + 8, THUMB + 8)


class Gallery(QListWidget):
    """Items carry the image path and, when known, the ``GenerationParams`` that made it."""

    image_activated = Signal(Path)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAccessibleName(self.tr("History"))
        self.setViewMode(QListView.ViewMode.IconMode)
        self.setIconSize(QSize(THUMB, THUMB))
        self.setResizeMode(QListView.ResizeMode.Adjust)
        self.setMovement(QListView.Movement.Static)
        self.setUniformItemSizes(True)
        self.setGridSize(QSize(THUMB + 8, THUMB + 8))
        self.setFlow(QListView.Flow.LeftToRight)
        self.setWrapping(True)
        self.setItemDelegate(ThumbnailDelegate(self))
        self.setSelectionMode(QListWidget.SelectionMode.ExtendedSelection)
        self.currentItemChanged.connect(self._current_changed)

    def add_image(self, path: Path, params: object | None = None) -> QListWidgetItem:
        item = QListWidgetItem(QIcon(load_thumbnail(path, THUMB, self.devicePixelRatioF() or 1.0)), "")
        item.setData(PATH_ROLE, str(path))
        item.setData(PARAMS_ROLE, params)
        item.setToolTip(path.name)
        self.insertItem(0, item)
        return item

    def current_path(self) -> Path | None:
        item = self.currentItem()
        return Path(item.data(PATH_ROLE)) if item is not None else None

    def current_params(self) -> object | None:
        item = self.currentItem()
        return item.data(PARAMS_ROLE) if item is not None else None

    def paths(self) -> list[Path]:
        return [Path(self.item(i).data(PATH_ROLE)) for i in range(self.count())]

    def _current_changed(self, current: QListWidgetItem | None, _previous: QListWidgetItem | None) -> None:
        if current is not None:
            self.image_activated.emit(Path(current.data(PATH_ROLE)))
