"""The central image: fit to the window or 100%, pan by dragging, zoom with Ctrl+wheel."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QPainter, QPixmap, QWheelEvent
from PySide6.QtWidgets import QGraphicsPixmapItem, QGraphicsScene, QGraphicsView, QWidget


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
        self.setBackgroundBrush(self.palette().window())
        self.fit = True

    def set_pixmap(self, pixmap: QPixmap) -> None:
        self._item.setPixmap(pixmap)
        self._scene.setSceneRect(self._item.boundingRect())
        self._apply_zoom()

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
