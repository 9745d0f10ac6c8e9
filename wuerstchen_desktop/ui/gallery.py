"""The history gallery: thumbnails from the history index, newest first, loaded page by page and
thumbnail by thumbnail as they come into view, with search and favourites. Compositions (Stage C results
not decoded yet) carry a badge; a filter shows images, compositions or both."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import (
    QAbstractListModel,
    QModelIndex,
    QPersistentModelIndex,
    QPoint,
    QRect,
    QSize,
    Qt,
    Signal,
)
from PySide6.QtGui import QColor, QPainter, QPainterPath, QPen, QPixmap
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListView,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QVBoxLayout,
    QWidget,
)

from wuerstchen_desktop.worker.history import PAGE, HistoryService

THUMB = 160
STAR_PX = 26  # the favourite star on a thumbnail, in logical pixels
ITEM_ROLE = Qt.ItemDataRole.UserRole + 1
Index = QModelIndex | QPersistentModelIndex
KINDS = ("", "image", "composition")  # the filter's choices: all, images, compositions


def is_composition(item: Any) -> bool:
    return getattr(item, "kind", "image") == "composition"


class GalleryModel(QAbstractListModel):
    """Rows are history items (``core.library.history.Item``); pixmaps arrive from the history thread.
    ``listed`` says a page came in (the panel then says when nothing matches)."""

    listed = Signal()

    def __init__(self, history: HistoryService, scale: float = 1.0) -> None:
        super().__init__()
        self.history = history
        self.scale = scale
        self.items: list[Any] = []
        self.query = ""
        self.favourites_only = False
        self.kind = ""
        self._places: dict[Path, int] = {}  # deleted item's file -> its row, where undo puts it back
        self._request = 0
        self._exhausted = False
        self._loading = False
        self._pixmaps: dict[int, QPixmap] = {}
        self._asked: set[int] = set()
        history.worker.page.connect(self._on_page)
        history.worker.thumbnail_ready.connect(self._on_thumbnail)

    # -- loading ----------------------------------------------------------------------------------
    def reload(
        self, query: str | None = None, favourites_only: bool | None = None, kind: str | None = None
    ) -> None:
        self.beginResetModel()
        self.items = []
        self._places.clear()
        if query is not None:
            self.query = query
        if favourites_only is not None:
            self.favourites_only = favourites_only
        if kind is not None:
            self.kind = kind
        self._exhausted = False
        self._loading = False
        self.endResetModel()
        self._request = self.history.next_request()
        self._load_more()

    def _load_more(self) -> None:
        if not self._loading and not self._exhausted:
            self._loading = True
            self.history.list_page(
                self._request, self.query, self.favourites_only, len(self.items), PAGE, self.kind
            )

    def canFetchMore(self, parent: Index = QModelIndex()) -> bool:  # noqa: B008 - Qt's signature
        return not parent.isValid() and not self._exhausted and not self._loading

    def fetchMore(self, parent: Index = QModelIndex()) -> None:  # noqa: B008 - Qt's signature
        self._load_more()

    def _on_page(self, request: int, items: list[Any]) -> None:
        if request != self._request:
            return  # an answer to a search that has since changed
        self._loading = False
        self._exhausted = len(items) < PAGE
        known = {item.id for item in self.items}
        fresh = [item for item in items if item.id not in known]
        if fresh:
            self.beginInsertRows(QModelIndex(), len(self.items), len(self.items) + len(fresh) - 1)
            self.items.extend(fresh)
            self.endInsertRows()
        self.listed.emit()

    @property
    def exhausted(self) -> bool:
        """Every matching item is listed."""
        return self._exhausted

    def _on_thumbnail(self, item_id: int, px: int, data: bytes) -> None:
        pixmap = QPixmap()
        if not pixmap.loadFromData(data):
            return
        pixmap.setDevicePixelRatio(self.scale)
        self._pixmaps[item_id] = pixmap
        row = self.row_of(item_id)
        if row is not None:
            index = self.index(row)
            self.dataChanged.emit(index, index, [Qt.ItemDataRole.DecorationRole])

    # -- edits --------------------------------------------------------------------------------------
    def matches(self, item: Any) -> bool:
        if self.favourites_only and not item.favourite:
            return False
        if self.kind and getattr(item, "kind", "image") != self.kind:
            return False
        prompt = item.prompt.casefold()
        return all(word in prompt for word in self.query.casefold().split())

    def insert_newest(self, item: Any) -> None:
        if self.row_of(item.id) is None and self.matches(item):
            self.beginInsertRows(QModelIndex(), 0, 0)
            self.items.insert(0, item)
            self.endInsertRows()

    def remove(self, item_id: int) -> None:
        row = self.row_of(item_id)
        if row is not None:
            self._places[self.items[row].path] = row
            self.beginRemoveRows(QModelIndex(), row, row)
            del self.items[row]
            self.endRemoveRows()

    def put_back(self, item: Any) -> None:
        """A deleted item restored (its id is new): at the row it had, or where its date sorts it."""
        if self.row_of(item.id) is not None or not self.matches(item):
            return
        row = self._places.pop(item.path, None)
        if row is None or row > len(self.items):
            key = (item.created, item.id)
            row = next((i for i, o in enumerate(self.items) if (o.created, o.id) < key), len(self.items))
        self.beginInsertRows(QModelIndex(), row, row)
        self.items.insert(row, item)
        self.endInsertRows()

    def replace(self, item: Any) -> None:
        row = self.row_of(item.id)
        if row is not None:
            self.items[row] = item
            self.dataChanged.emit(self.index(row), self.index(row))

    def row_of(self, item_id: int) -> int | None:
        return next((i for i, item in enumerate(self.items) if item.id == item_id), None)

    # -- Qt model -----------------------------------------------------------------------------------
    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008 - Qt's signature
        return 0 if parent.isValid() else len(self.items)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or index.row() >= len(self.items):
            return None
        item = self.items[index.row()]
        if role == ITEM_ROLE:
            return item
        if role == Qt.ItemDataRole.DecorationRole:
            pixmap = self._pixmaps.get(item.id)
            if pixmap is None and item.id not in self._asked:
                self._asked.add(item.id)  # asked once; the answer or a failure message comes back
                self.history.thumbnail(item.id, THUMB, self.scale)
            return pixmap
        if role == Qt.ItemDataRole.ToolTipRole:
            star = "★ " if item.favourite else ""
            text = f"{star}{item.prompt or item.path.name}"
            if is_composition(item):
                note = self.tr("Composition (not decoded yet): double-click or right-click → Decode")
                text = f"{note}\n{text}"
            return text
        if role == Qt.ItemDataRole.AccessibleTextRole:
            text = item.prompt or item.path.name
            return self.tr("Composition: %1").replace("%1", text) if is_composition(item) else text
        return None


class ThumbnailDelegate(QStyledItemDelegate):
    """Just the picture, centred in its cell, a frame in the highlight colour when selected, a star on
    favourites, a "◇ composition" pill on compositions."""

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: Index) -> None:
        cell = QRect(option.rect).adjusted(3, 3, -3, -3)
        target = cell
        pixmap = index.data(Qt.ItemDataRole.DecorationRole)
        if isinstance(pixmap, QPixmap) and not pixmap.isNull():
            size = (
                pixmap.deviceIndependentSize()
                .toSize()
                .scaled(cell.size(), Qt.AspectRatioMode.KeepAspectRatio)
            )
            target = QRect(
                cell.x() + (cell.width() - size.width()) // 2,
                cell.y() + (cell.height() - size.height()) // 2,
                size.width(),
                size.height(),
            )
            painter.drawPixmap(target, pixmap)
        else:
            painter.fillRect(cell, option.palette.alternateBase())
        item = index.data(ITEM_ROLE)
        if item is not None and item.favourite:
            self._star(painter, target)
        if is_composition(item):
            self._badge(painter, target)
        if option.state & QStyle.StateFlag.State_Selected:
            painter.setPen(QPen(option.palette.highlight(), 3))
            painter.drawRect(target.adjusted(-2, -2, 1, 1))

    def _star(self, painter: QPainter, target: QRect) -> None:
        """A large gold star outlined in black in the top-right corner: seen at a glance on any picture."""
        painter.save()
        font = painter.font()
        font.setPixelSize(STAR_PX)
        path = QPainterPath()
        path.addText(0, 0, font, "★")
        box = path.boundingRect()
        path.translate(target.right() - 5 - box.right(), target.top() + 4 - box.top())
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(QPen(QColor(0, 0, 0, 200), 2))
        painter.setBrush(QColor(255, 200, 0))
        painter.drawPath(path)
        painter.restore()

    def _badge(self, painter: QPainter, target: QRect) -> None:
        """A dark pill with white text at the bottom left: readable on any picture and in either theme."""
        painter.save()
        font = painter.font()
        font.setPointSizeF(max(6.0, font.pointSizeF() * 0.85))
        painter.setFont(font)
        metrics = painter.fontMetrics()
        text = metrics.elidedText(
            self.tr("◇ composition"), Qt.TextElideMode.ElideRight, max(10, target.width() - 20)
        )
        pill = QRect(0, 0, metrics.horizontalAdvance(text) + 12, metrics.height() + 4)
        pill.moveBottomLeft(target.bottomLeft() + QPoint(5, -5))
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(QColor(0, 0, 0, 170))
        painter.drawRoundedRect(pill, pill.height() / 2, pill.height() / 2)
        painter.setPen(QColor(255, 255, 255))
        painter.drawText(pill, Qt.AlignmentFlag.AlignCenter, text)
        painter.restore()

    def sizeHint(self, option: QStyleOptionViewItem, index: Index) -> QSize:
        return QSize(THUMB + 8, THUMB + 8)


class GalleryPanel(QWidget):
    """Search box, the kind and favourites filters, and the thumbnail grid; a line says when nothing
    matches."""

    item_activated = Signal(object)  # Item

    def __init__(self, history: HistoryService, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.search = QLineEdit()
        self.search.setPlaceholderText(self.tr("Search prompts…"))
        self.search.setClearButtonEnabled(True)
        self.search.setAccessibleName(self.tr("Search the history"))
        self.kind = QComboBox()
        for text in (self.tr("All"), self.tr("Images"), self.tr("Compositions")):
            self.kind.addItem(text)
        self.kind.setAccessibleName(self.tr("Show"))
        self.kind.setToolTip(self.tr("Show images and compositions together or apart"))
        self.favourites = QCheckBox(self.tr("Favourites"))
        self.favourites.setToolTip(self.tr("Show only the images marked with a star"))
        self.empty = QLabel()
        self.empty.setWordWrap(True)
        self.empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty.setAccessibleName(self.tr("No results"))
        self.empty.hide()
        self.view = QListView()
        self.view.setAccessibleName(self.tr("History"))
        self.view.setViewMode(QListView.ViewMode.IconMode)
        self.view.setResizeMode(QListView.ResizeMode.Adjust)
        self.view.setMovement(QListView.Movement.Static)
        self.view.setUniformItemSizes(True)
        self.view.setGridSize(QSize(THUMB + 8, THUMB + 8))
        self.view.setWrapping(True)
        self.view.setSelectionMode(QListView.SelectionMode.SingleSelection)
        self.view.setItemDelegate(ThumbnailDelegate(self.view))
        self.model = GalleryModel(history, self.devicePixelRatioF() or 1.0)
        self.view.setModel(self.model)
        self.view.selectionModel().currentChanged.connect(self._current_changed)
        self.search.textChanged.connect(self._search)
        self.kind.currentIndexChanged.connect(self._kind)
        self.favourites.toggled.connect(self._favourites)
        self.model.listed.connect(self._update_empty)
        self.model.rowsInserted.connect(self._update_empty)
        self.model.rowsRemoved.connect(self._update_empty)
        self.model.modelReset.connect(self._update_empty)

        bar = QHBoxLayout()
        bar.addWidget(self.search, 1)
        bar.addWidget(self.kind)
        bar.addWidget(self.favourites)
        root = QVBoxLayout(self)
        root.setContentsMargins(0, 0, 0, 0)
        root.addLayout(bar)
        root.addWidget(self.empty)
        root.addWidget(self.view, 1)

    def _search(self, text: str) -> None:
        self.model.reload(query=text)

    def _kind(self, index: int) -> None:
        self.model.reload(kind=KINDS[index])

    def _favourites(self, on: bool) -> None:
        self.model.reload(favourites_only=on)

    def _update_empty(self, *_args: Any) -> None:
        """Say why the grid is empty, and what to do, once the index has answered."""
        m = self.model
        if m.rowCount() or not m.exhausted:
            self.empty.hide()
            return
        what = (self.tr("images and compositions"), self.tr("images"), self.tr("compositions"))
        kind = what[KINDS.index(m.kind)]
        if m.query.strip():
            text = self.tr("No {0} match “{1}”. Try other words or clear the search.").format(
                kind, m.query.strip()
            )
        elif m.favourites_only:
            text = self.tr("No favourite {0} yet: right-click a picture → Add to favourites.").format(kind)
        elif m.kind:
            text = self.tr("No {0} yet.").format(kind)
        else:
            text = self.tr("No images yet: they appear here as you generate them.")
        self.empty.setText(text)
        self.empty.show()

    def count(self) -> int:
        return self.model.rowCount()

    def current_item(self) -> Any:
        index = self.view.currentIndex()
        return index.data(ITEM_ROLE) if index.isValid() else None

    def select_row(self, row: int) -> None:
        self.view.setCurrentIndex(self.model.index(row))

    def item_at(self, row: int) -> Any:
        return self.model.items[row]

    def _current_changed(self, current: QModelIndex, _previous: QModelIndex) -> None:
        item = current.data(ITEM_ROLE) if current.isValid() else None
        if item is not None:
            self.item_activated.emit(item)
