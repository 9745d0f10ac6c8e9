"""The central image: fit to the window or 100%, pan by dragging, zoom with Ctrl+wheel; an optional caption
(e.g. "Preview · step 12/29") floats over its bottom-left corner."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QPainter, QPaintEvent, QPalette, QPixmap, QWheelEvent
from PySide6.QtWidgets import QGraphicsPixmapItem, QGraphicsScene, QGraphicsView, QLabel, QWidget

CAPTION_MARGIN = 8


class _Caption(QLabel):
    """Text on a rounded, semi-transparent pill of the theme's window colour; clicks go through it."""

    def __init__(self, parent: QWidget) -> None:
        super().__init__(parent)
        self.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
        self.setAccessibleName(self.tr("Image caption"))
        self.setWordWrap(True)
        self.setContentsMargins(8, 3, 8, 3)
        self.hide()

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        background = QColor(self.palette().color(QPalette.ColorRole.Window))
        background.setAlpha(215)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(background)
        painter.drawRoundedRect(self.rect(), 6, 6)
        painter.end()
        super().paintEvent(event)


class ImageView(QGraphicsView):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAccessibleName(self.tr("Image"))
        self._scene = QGraphicsScene(self)
        self.setScene(self._scene)
        self._item = QGraphicsPixmapItem()
        self._item.setTransformationMode(Qt.TransformationMode.SmoothTransformation)
        self._scene.addItem(self._item)
        self.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        self.setDragMode(QGraphicsView.DragMode.ScrollHandDrag)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorUnderMouse)
        self.viewport().setBackgroundRole(QPalette.ColorRole.Window)  # follows a change of theme
        self.fit = True
        self._caption = _Caption(self)

    def set_pixmap(self, pixmap: QPixmap) -> None:
        self._item.setPixmap(pixmap)
        self._scene.setSceneRect(self._item.boundingRect())
        self._apply_zoom()

    def set_caption(self, text: str) -> None:
        """Show ``text`` in a small overlay at the bottom left; an empty string hides it. The caption stays
        until it is changed: ``set_pixmap`` leaves it alone, so whoever shows a finished image clears it."""
        self._caption.setText(text)
        self._caption.setVisible(bool(text))
        self._place_caption()

    def caption(self) -> str:
        return "" if self._caption.isHidden() else self._caption.text()

    def _place_caption(self) -> None:
        if not self._caption.text():
            return
        area = self.viewport().geometry()  # in this widget's coordinates: clear of frame and scroll bars
        caption, widest = self._caption, max(40, area.width() - 2 * CAPTION_MARGIN)
        margins = caption.contentsMargins().left() + caption.contentsMargins().right()
        width = min(widest, caption.fontMetrics().horizontalAdvance(caption.text()) + margins + 2)
        caption.setWordWrap(width == widest)  # one line when it fits, wrapped on a narrow view
        height = caption.heightForWidth(width) if width == widest else caption.sizeHint().height()
        caption.setGeometry(
            area.left() + CAPTION_MARGIN, area.bottom() + 1 - CAPTION_MARGIN - height, width, height
        )
        caption.raise_()

    def pixmap(self) -> QPixmap:
        return self._item.pixmap()

    def has_image(self) -> bool:
        return not self._item.pixmap().isNull()

    def set_fit(self, fit: bool) -> None:
        self.fit = fit
        self._apply_zoom()

    def toggle_fit(self) -> None:
        self.set_fit(not self.fit)

    def _apply_zoom(self) -> None:
        if not self.has_image():
            return
        if self.fit:
            self.fitInView(self._item, Qt.AspectRatioMode.KeepAspectRatio)
        else:
            # 100% means one image pixel per device pixel on HiDPI screens too.
            ratio = self.devicePixelRatioF() or 1.0
            self.resetTransform()
            self.scale(1 / ratio, 1 / ratio)

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        if self.fit:
            self._apply_zoom()
        self._place_caption()

    def mouseDoubleClickEvent(self, event) -> None:
        self.toggle_fit()
        super().mouseDoubleClickEvent(event)

    def wheelEvent(self, event: QWheelEvent) -> None:
        if event.modifiers() & Qt.KeyboardModifier.ControlModifier and self.has_image():
            self.fit = False
            factor = 1.25 if event.angleDelta().y() > 0 else 0.8
            self.scale(factor, factor)
            event.accept()
            return
        super().wheelEvent(event)
