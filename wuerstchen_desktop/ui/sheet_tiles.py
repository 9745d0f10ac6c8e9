"""The tiles of the contact sheet: one composition each (waiting, live preview, saved or broken), and the
grid that sizes them to show a whole compose batch at once."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from PySide6.QtCore import QPoint, QRect, QSize, Qt, Signal
from PySide6.QtGui import (
    QColor,
    QImage,
    QImageReader,
    QKeyEvent,
    QMouseEvent,
    QPainter,
    QPaintEvent,
    QPalette,
    QPen,
    QPixmap,
    QResizeEvent,
)
from PySide6.QtWidgets import (
    QAbstractButton,
    QSizePolicy,
    QWidget,
)

from wuerstchen_desktop.ui.preview_sheet import (
    GAP,
    MAX_TILE,
    MIN_TILE,
    fill,
    fit,
)

NAV_KEYS = (
    Qt.Key.Key_Left,
    Qt.Key.Key_Right,
    Qt.Key.Key_Up,
    Qt.Key.Key_Down,
    Qt.Key.Key_Home,
    Qt.Key.Key_End,
)


class Tile(QAbstractButton):
    """One composition: a placeholder while waiting, the live preview, then the saved file. Checkable once
    saved (click or Space toggles); ``activated`` is a double-click or Enter: decode just this one. A
    double-click's two clicks toggle twice, so it leaves the selection as it was. Once decoded, a
    "Decoded" link on it shows the image (``show_decoded``)."""

    activated = Signal()
    navigate = Signal(int)  # a Qt.Key: the sheet moves the focus
    show_decoded = Signal(object)  # the Path of the image decoded from this composition

    def __init__(self, seed: int | None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.seed = seed
        self.item: Any = None
        self.state = "waiting"  # "preview", "ready" or "broken" later
        self.approximate = False
        self.image = QImage()
        self.decoded: Path | None = None
        self._link = QRect()  # where the "Decoded" link was drawn
        self._link_pressed = False
        self._scaled: tuple[tuple[int, int, float], QPixmap] | None = None
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setCheckable(False)
        self._describe()

    def set_image(self, image: QImage, state: str, approximate: bool = False) -> None:
        self.image, self.state, self.approximate, self._scaled = image, state, approximate, None
        self._describe()
        self.update()

    def set_item(self, item: Any) -> None:
        self.item = item
        reader = QImageReader(str(item.path))
        reader.setAutoTransform(True)
        size = reader.size()
        if (
            size.isValid() and max(size.width(), size.height()) > 2 * MAX_TILE
        ):  # a full image: no need for all
            reader.setScaledSize(size.scaled(2 * MAX_TILE, 2 * MAX_TILE, Qt.AspectRatioMode.KeepAspectRatio))
        image = reader.read()
        if image.isNull():
            self.set_image(QImage(), "broken")
            self.setToolTip(fill(self.tr("Could not load %1: %2"), item.path, reader.errorString()))
        else:
            self.set_image(image, "ready")
        self.setCheckable(not image.isNull())  # a broken file cannot be decoded

    def set_decoded(self, image: Path) -> None:
        self.decoded = image
        self._describe()
        self.update()

    def _describe(self) -> None:
        seed = fill(self.tr("seed %1"), self.seed) if self.seed is not None else ""
        texts = {
            "waiting": self.tr("Composition %1, waiting"),
            "preview": self.tr("Composition %1, being composed"),
            "ready": self.tr("Composition %1: click or Space to select, double-click or Enter to decode"),
            "broken": self.tr("Composition %1: the file could not be loaded"),
            "stopped": self.tr("Composition %1: not composed"),
        }
        name = fill(texts[self.state], seed)
        if self.decoded is not None:
            name += self.tr(" (decoded: click “Decoded” to show the image)")
        self.setAccessibleName(name)
        if self.state != "broken":
            self.setToolTip(self.accessibleName())

    def image_rect(self) -> QRect:
        return self.rect().adjusted(0, 0, 0, -(self.fontMetrics().height() + 6))

    def _pixmap_for(self, size: QSize) -> QPixmap:
        """The image scaled smoothly to ``size`` logical pixels at the device pixel ratio, cached."""
        ratio = self.devicePixelRatioF() or 1.0
        key = (size.width(), size.height(), ratio)
        if self._scaled is None or self._scaled[0] != key:
            physical = QSize(round(size.width() * ratio), round(size.height() * ratio))
            smooth = Qt.TransformationMode.SmoothTransformation
            pixmap = QPixmap.fromImage(
                self.image.scaled(physical, Qt.AspectRatioMode.IgnoreAspectRatio, smooth)
            )
            pixmap.setDevicePixelRatio(ratio)
            self._scaled = (key, pixmap)
        return self._scaled[1]

    def paintEvent(self, event: QPaintEvent) -> None:
        p, pal = QPainter(self), self.palette()
        area = self.image_rect()
        if self.image.isNull():
            target = area.adjusted(1, 1, -1, -1)
            p.fillRect(target, pal.color(QPalette.ColorRole.AlternateBase))
            p.setPen(QPen(pal.color(QPalette.ColorRole.Mid), 1, Qt.PenStyle.DashLine))
            p.drawRect(target.adjusted(0, 0, -1, -1))
            if self.state == "broken":
                p.setPen(QColor(217, 83, 79))
                text = self.tr("⚠ Could not load this composition")
            else:
                p.setPen(pal.color(QPalette.ColorRole.PlaceholderText))
                text = self.tr("Not composed") if self.state == "stopped" else self.tr("Waiting…")
            p.drawText(
                target.adjusted(8, 8, -8, -8), Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap, text
            )
        else:
            size = fit(self.image.width(), self.image.height(), area.width(), area.height())
            target = QRect(
                area.x() + (area.width() - size.width()) // 2, area.y(), size.width(), size.height()
            )
            p.drawPixmap(target, self._pixmap_for(size))
        if self.state == "preview":
            self._pill(p, target, self.tr("≈ layout only") if self.approximate else self.tr("Preview"))
        if self.isChecked():
            tint = QColor(pal.color(QPalette.ColorRole.Highlight))
            tint.setAlpha(50)
            p.fillRect(target, tint)
            p.setPen(QPen(pal.color(QPalette.ColorRole.Highlight), 4))
            p.drawRect(target.adjusted(2, 2, -2, -2))
        if self.isCheckable():
            self._check_mark(p, QRect(target.right() - 29, target.top() + 7, 22, 22))
        self._link = (
            self._pill(p, target, self.tr("✓ Decoded · show"), bottom=True) if self.decoded else QRect()
        )
        if self.hasFocus():
            p.setPen(QPen(pal.color(QPalette.ColorRole.Highlight), 1, Qt.PenStyle.DashLine))
            p.drawRect(self.rect().adjusted(0, 0, -1, -1))
        label = QRect(0, area.bottom() + 1, self.width(), self.height() - area.height())
        p.setPen(pal.color(QPalette.ColorRole.WindowText))
        text = fill(self.tr("Seed %1"), self.seed) if self.seed is not None else ""
        text = self.fontMetrics().elidedText(text, Qt.TextElideMode.ElideRight, label.width() - 4)
        p.drawText(label, Qt.AlignmentFlag.AlignCenter, text)

    def _check_mark(self, p: QPainter, box: QRect) -> None:
        p.save()
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        highlight = self.palette().color(QPalette.ColorRole.Highlight)
        p.setPen(QPen(QColor(255, 255, 255), 2))
        p.setBrush(highlight if self.isChecked() else QColor(0, 0, 0, 110))
        p.drawEllipse(box)
        if self.isChecked():
            p.setPen(QPen(QColor(255, 255, 255), 2.5))
            c = box.center()
            p.drawPolyline([c + QPoint(-5, 0), c + QPoint(-1, 4), c + QPoint(6, -4)])
        p.restore()

    def _pill(self, p: QPainter, target: QRect, text: str, bottom: bool = False) -> QRect:
        """White text on a dark pill in the top-left (or bottom-left) corner: readable on any picture, in
        either theme. Returns where it was drawn."""
        fm = self.fontMetrics()
        text = fm.elidedText(text, Qt.TextElideMode.ElideRight, target.width() - (12 if bottom else 60))
        box = QRect(target.left() + 6, target.top() + 7, fm.horizontalAdvance(text) + 12, fm.height() + 4)
        if bottom:
            box.moveBottom(target.bottom() - 6)
        p.save()
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(QColor(0, 0, 0, 170))
        p.drawRoundedRect(box, box.height() / 2, box.height() / 2)
        p.setPen(QColor(255, 255, 255))
        p.drawText(box, Qt.AlignmentFlag.AlignCenter, text)
        p.restore()
        return box

    def mousePressEvent(self, event: QMouseEvent) -> None:
        """A press on the "Decoded" link shows the image and leaves the selection alone."""
        self._link_pressed = self.decoded is not None and self._link.contains(event.position().toPoint())
        if self._link_pressed:
            event.accept()
            return
        super().mousePressEvent(event)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        if self._link_pressed:
            self._link_pressed = False
            if self._link.contains(event.position().toPoint()):
                self.show_decoded.emit(self.decoded)
            event.accept()
            return
        super().mouseReleaseEvent(event)

    def mouseDoubleClickEvent(self, event: QMouseEvent) -> None:
        on_link = self.decoded is not None and self._link.contains(event.position().toPoint())
        ready = self.item is not None and self.state == "ready"
        if event.button() == Qt.MouseButton.LeftButton and ready and not on_link:
            self.activated.emit()
        event.accept()

    def keyPressEvent(self, event: QKeyEvent) -> None:
        key = event.key()
        if key in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and self.item is not None and self.state == "ready":
            self.activated.emit()
        elif key in NAV_KEYS:
            self.navigate.emit(key)
        else:
            super().keyPressEvent(event)


class Grid(QWidget):
    """Places the tiles (all one size, the batch's aspect ratio) centred in a grid that fills the scroll
    area; its height follows its width (``heightForWidth``), so the scroll area scrolls only when needed.
    With headers (a grid of compositions) the columns are fixed, under their headers, and each row has
    its header on the left."""

    def __init__(self) -> None:
        super().__init__()
        self.tiles: list[Tile] = []
        self.aspect = (1, 1)
        self.cols = 1
        self.column_heads: list[QWidget] = []
        self.row_heads: list[QWidget] = []
        policy = QSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Preferred)
        policy.setHeightForWidth(True)
        self.setSizePolicy(policy)

    def set_headers(self, columns: list[QWidget], rows: list[QWidget]) -> None:
        """Header widgets over the columns and beside the rows (none: the plain contact sheet)."""
        for head in self.column_heads + self.row_heads:
            head.hide()
            head.deleteLater()
        self.column_heads, self.row_heads = columns, rows
        for head in columns + rows:
            head.setParent(self)
            head.show()
        self.relayout()

    def _margins(self) -> tuple[int, int]:
        """The room of the row headers on the left and of the column headers on top."""
        left = max((h.sizeHint().width() for h in self.row_heads), default=0)
        left = min(max(left, 80), 200) + GAP if self.row_heads else 0
        top = max((h.sizeHint().height() for h in self.column_heads), default=0)
        return left, top + GAP if self.column_heads else 0

    def _fixed_metrics(self, width: int, visible: int) -> tuple[int, int, int]:
        """A grid's columns are its own; its tiles fill the width, and the height when that leaves them
        at least ``MIN_TILE``, else the sheet scrolls."""
        cols, label = len(self.column_heads), self.fontMetrics().height() + 6
        rows = max(1, math.ceil(len(self.tiles) / cols))
        left, top = self._margins()
        aw, ah = self.aspect
        box = max(24, min(MAX_TILE, (width - left - (cols - 1) * GAP) // cols))
        tall = ((visible - top - (rows - 1) * GAP) // rows - label) * aw // ah if visible else 0
        if tall >= MIN_TILE:
            box = min(box, tall)
        image = fit(aw, ah, box, MAX_TILE)
        return cols, image.width(), image.height() + label

    def _metrics(self, width: int) -> tuple[int, int, int]:
        """Columns, tile width and tile height (image plus seed label) for ``width``: the largest tiles that
        show the whole batch in the visible height, else (when they would be smaller than ``MIN_TILE``)
        as many columns as keep a tile at most ``MAX_TILE`` wide, rows balanced, scrolling."""
        n, label = max(1, len(self.tiles)), self.fontMetrics().height() + 6
        parent = self.parentWidget()  # the scroll area's viewport
        visible = parent.height() if parent is not None else 0
        if self.column_heads:
            return self._fixed_metrics(width, visible)
        aw, ah = self.aspect

        def tile_width(cols: int, height: int) -> int:
            rows = math.ceil(n / cols)
            box = min(MAX_TILE, (width - (cols - 1) * GAP) // cols)
            if height:
                box = min(box, ((height - (rows - 1) * GAP) // rows - label) * aw // ah)
            return fit(aw, ah, box, MAX_TILE).width()

        # the largest tiles; among equals, the fewest empty cells (4 as 2 + 2, not 3 + 1), then the widest
        cols = max(range(1, n + 1), key=lambda c: (tile_width(c, visible), -(-n % c), c))
        if tile_width(cols, visible) < MIN_TILE:
            cols = min(n, max(1, math.ceil((width + GAP) / (MAX_TILE + GAP))))
            while cols > 1 and (width - (cols - 1) * GAP) // cols < MIN_TILE:
                cols -= 1
            cols = math.ceil(n / math.ceil(n / cols))  # balanced rows: 4 tiles as 2 + 2, not 3 + 1
            visible = 0
        image = fit(aw, ah, max(1, tile_width(cols, visible)), MAX_TILE)
        return cols, image.width(), image.height() + label

    def heightForWidth(self, width: int) -> int:
        cols, _w, h = self._metrics(width)
        rows = math.ceil(len(self.tiles) / cols)
        return max(0, rows * h + (rows - 1) * GAP) + self._margins()[1]

    def sizeHint(self) -> QSize:
        return QSize(2 * MAX_TILE + GAP, self.heightForWidth(2 * MAX_TILE + GAP))

    def relayout(self) -> None:
        self.cols, w, h = self._metrics(self.width())
        left, top = self._margins()
        used = left + min(len(self.tiles), self.cols) * (w + GAP) - GAP
        x0 = max(0, (self.width() - used) // 2) + left
        for i, tile in enumerate(self.tiles):
            row, col = divmod(i, self.cols)
            tile.setGeometry(x0 + col * (w + GAP), top + row * (h + GAP), w, h)
        for col, head in enumerate(self.column_heads):
            head.setGeometry(x0 + col * (w + GAP), 0, w, top - GAP)
        label = self.fontMetrics().height() + 6
        for row, head in enumerate(self.row_heads):
            head.setGeometry(x0 - left, top + row * (h + GAP), left - GAP, h - label)
        self.updateGeometry()

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self.relayout()
