"""The central image: fit to the window or any zoom (the wheel and pinch zoom around the cursor), pan by
dragging; a bar above says which file it is (name, pixel size, seed) and the zoom, with Fit and 100 %;
a strip below shows every image of the batch; an optional caption (e.g. "Preview · step 12/29") floats
over its bottom-left corner; with nothing to show it says what to do."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import QEvent, QPoint, QPointF, Qt, Signal
from PySide6.QtGui import (
    QColor,
    QContextMenuEvent,
    QNativeGestureEvent,
    QPainter,
    QPaintEvent,
    QPalette,
    QPixmap,
    QWheelEvent,
)
from PySide6.QtWidgets import (
    QGestureEvent,
    QGraphicsPixmapItem,
    QGraphicsScene,
    QGraphicsView,
    QHBoxLayout,
    QLabel,
    QPinchGesture,
    QToolButton,
    QWidget,
)

from wuerstchen_desktop.ui.batch_strip import BatchStrip
from wuerstchen_desktop.ui.elided_label import ElidedLabel

CAPTION_MARGIN = 8
MIN_ZOOM, MAX_ZOOM = 0.02, 32.0  # image pixels per screen pixel, 2 % to 3200 %
WHEEL_STEP = 1.25  # one notch of a mouse wheel
EMPTY_HINT = "Type a prompt and press Generate (Ctrl+Enter), or drop an image here."


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


class _Bar(QWidget):
    """The file shown (name · pixel size · seed) on the left, the zoom and its two buttons on the right."""

    def __init__(self, parent: QWidget) -> None:
        super().__init__(parent)
        self.info = ElidedLabel()
        self.info.setAccessibleName(self.tr("Image details"))
        self.zoom = QLabel()
        self.zoom.setAccessibleName(self.tr("Zoom"))
        self.fit_button = QToolButton()
        self.fit_button.setText(self.tr("Fit"))
        self.fit_button.setToolTip(self.tr("Fit the image to the view (Ctrl+0 toggles)"))
        self.actual_button = QToolButton()
        self.actual_button.setText(self.tr("100 %"))
        self.actual_button.setToolTip(self.tr("One image pixel per screen pixel (Ctrl+0 toggles)"))
        for button in (self.fit_button, self.actual_button):
            button.setCheckable(True)
            button.setAutoRaise(True)
        row = QHBoxLayout(self)
        row.setContentsMargins(6, 0, 4, 0)
        row.addWidget(self.info, 1)
        row.addWidget(self.zoom)
        row.addWidget(self.fit_button)
        row.addWidget(self.actual_button)


class ImageView(QGraphicsView):
    """``show_file`` shows one of our files (the bar names it, the context menu may act on it);
    ``set_pixmap`` shows anything else, e.g. a live preview (then ``path`` is None)."""

    batch_picked = Signal(object)  # a Path from the strip
    menu_requested = Signal(QPoint)  # global position of a right-click on a shown file

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
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.NoAnchor)  # zoom_by keeps its own point
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)  # drag to pan instead
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.viewport().setBackgroundRole(QPalette.ColorRole.Window)  # follows a change of theme
        self.viewport().grabGesture(Qt.GestureType.PinchGesture)
        # Files dropped here go to the window (it reads their parameters); the view would swallow them.
        self.setAcceptDrops(False)
        self.viewport().setAcceptDrops(False)
        self.fit = True
        self.path: Path | None = None  # the file shown; None for a live preview or nothing
        self._known: dict[Path, Any] = {}  # history items by file: seed and kind of what is shown
        self.bar = _Bar(self)
        self.bar.fit_button.clicked.connect(lambda: self.set_fit(True))
        self.bar.actual_button.clicked.connect(lambda: self.set_fit(False))
        self.strip = BatchStrip(self)
        self.strip.picked.connect(self.batch_picked)
        self.hint = QLabel(self.tr(EMPTY_HINT), self)
        self.hint.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.hint.setWordWrap(True)
        self.hint.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        self.hint.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
        self._caption = _Caption(self)
        self._update_chrome()

    # -- what is shown --------------------------------------------------------------------------------
    def set_pixmap(self, pixmap: QPixmap) -> None:
        """Show a picture that is not one of the history's files (a live preview), or nothing."""
        self.path = None
        self._show(pixmap)

    def show_file(self, path: Path, pixmap: QPixmap) -> None:
        """Show ``path``, already read into ``pixmap``; the history's item for it fills in the seed."""
        self.path = path
        if path not in self.strip.paths():
            self.set_batch([])
        self.strip.select_path(path)
        self._show(pixmap)

    def _show(self, pixmap: QPixmap) -> None:
        self._item.setPixmap(pixmap)
        self._scene.setSceneRect(self._item.boundingRect())
        self._update_chrome()
        if not self.fit:
            self._apply_zoom()

    def know(self, item: Any) -> None:
        """A history item: its seed and kind describe its file whenever that file is shown."""
        self._known[item.path] = item
        if len(self._known) > 500:
            self._known.pop(next(iter(self._known)))
        if item.path == self.path:
            self._update_info()

    def item(self) -> Any:
        """The history item of the shown file, when the history has listed it."""
        return self._known.get(self.path) if self.path is not None else None

    def set_batch(self, paths: list[Path]) -> None:
        """The images of one batch, shown in the strip below when there are several."""
        paths = list(paths) if len(paths) > 1 else []
        if paths != self.strip.paths():
            self.strip.set_paths(paths)
        self.strip.select_path(self.path)
        self._update_chrome()

    def info_text(self) -> str:
        return self.bar.info.text()

    def zoom_text(self) -> str:
        return self.bar.zoom.text()

    def _update_info(self) -> None:
        if self.path is None or not self.has_image():
            self.bar.info.setText("")
            return
        pixmap = self._item.pixmap()
        parts = [self.path.name, self.tr("{0} × {1} px").format(pixmap.width(), pixmap.height())]
        item = self.item()
        if item is not None and item.seed is not None:
            parts.append(self.tr("seed {0}").format(item.seed))
        if item is not None and getattr(item, "kind", "image") == "composition":
            parts.append(self.tr("composition"))
        self.bar.info.setText(" · ".join(parts))
        self.bar.info.setToolTip(str(self.path))

    def _update_chrome(self) -> None:
        """Bar and strip take room only when there is something to say; the hint only on an empty view."""
        shown = self.has_image()
        top = self.bar.sizeHint().height() if shown else 0
        bottom = self.strip.height() if shown and self.strip.count() else 0
        self.setViewportMargins(0, top, 0, bottom)
        self.bar.setVisible(bool(top))
        self.strip.setVisible(bool(bottom))
        self.hint.setVisible(not shown)
        self._update_info()
        self._place()
        if self.fit:  # the viewport changed size with the margins
            self._apply_zoom()
        self._update_zoom_label()

    def _place(self) -> None:
        area = self.contentsRect()
        top = self.bar.sizeHint().height() if self.bar.isVisibleTo(self) else 0
        self.bar.setGeometry(area.left(), area.top(), area.width(), top)
        self.strip.setGeometry(
            area.left(), area.bottom() + 1 - self.strip.height(), area.width(), self.strip.height()
        )
        self.hint.setGeometry(self.viewport().geometry().adjusted(24, 24, -24, -24))
        self._place_caption()

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
        """Fit the whole image in the view, or show it at 100 %."""
        self.fit = fit
        self._apply_zoom()

    def toggle_fit(self) -> None:
        self.set_fit(not self.fit)

    def zoom(self) -> float:
        """Image pixels per device pixel: 1.0 is 100 %, on HiDPI screens too."""
        return self.transform().m11() * (self.devicePixelRatioF() or 1.0)

    def zoom_by(self, factor: float, at: QPointF | None = None) -> None:
        """Zoom by ``factor`` keeping the image point under ``at`` (viewport coordinates) where it is."""
        if not self.has_image() or factor <= 0:
            return
        at = QPointF(self.viewport().rect().center()) if at is None else QPointF(at)
        current = self.zoom()
        factor = min(MAX_ZOOM, max(MIN_ZOOM, current * factor)) / current
        anchor = self.viewportTransform().inverted()[0].map(at)  # the image point under the cursor
        self.fit = False
        self.scale(factor, factor)
        moved = self.viewportTransform().map(anchor) - at
        h, v = self.horizontalScrollBar(), self.verticalScrollBar()
        h.setValue(h.value() + round(moved.x()))
        v.setValue(v.value() + round(moved.y()))
        self._update_zoom_label()

    def _apply_zoom(self) -> None:
        if self.has_image():
            self.resetTransform()
            if self.fit:
                self.fitInView(self._item, Qt.AspectRatioMode.KeepAspectRatio)
            else:
                ratio = self.devicePixelRatioF() or 1.0
                self.scale(1 / ratio, 1 / ratio)
        self._update_zoom_label()

    def _update_zoom_label(self) -> None:
        percent = f"{self.zoom() * 100:.0f} %" if self.has_image() else ""
        self.bar.zoom.setText(percent)
        self.bar.fit_button.setChecked(self.fit)
        self.bar.actual_button.setChecked(not self.fit and abs(self.zoom() - 1) < 1e-6)

    # -- events ---------------------------------------------------------------------------------------
    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        if self.fit:
            self._apply_zoom()
        self._place()

    def mouseDoubleClickEvent(self, event) -> None:
        self.toggle_fit()
        super().mouseDoubleClickEvent(event)

    def wheelEvent(self, event: QWheelEvent) -> None:
        """A mouse wheel zooms around the cursor; a touchpad's two-finger scroll pans (pinch zooms), unless
        Ctrl is held."""
        ctrl = bool(event.modifiers() & Qt.KeyboardModifier.ControlModifier)
        delta = event.angleDelta().y() or event.angleDelta().x()
        if not self.has_image() or not delta or (not event.pixelDelta().isNull() and not ctrl):
            super().wheelEvent(event)
            return
        self.zoom_by(WHEEL_STEP ** (delta / 120), event.position())
        event.accept()

    def viewportEvent(self, event: QEvent) -> bool:
        if isinstance(event, QNativeGestureEvent):  # macOS and Wayland touchpads
            if event.gestureType() == Qt.NativeGestureType.ZoomNativeGesture:
                self.zoom_by(1 + event.value(), event.position())
                return True
        elif isinstance(event, QGestureEvent):  # touch screens
            pinch = event.gesture(Qt.GestureType.PinchGesture)
            if isinstance(pinch, QPinchGesture):
                if pinch.changeFlags() & QPinchGesture.ChangeFlag.ScaleFactorChanged:
                    at = self.viewport().mapFromGlobal(pinch.centerPoint())
                    self.zoom_by(pinch.scaleFactor(), at)
                event.accept(pinch)
                return True
        return super().viewportEvent(event)

    def contextMenuEvent(self, event: QContextMenuEvent) -> None:
        if self.path is not None and self.has_image():
            self.menu_requested.emit(event.globalPos())
            event.accept()
            return
        super().contextMenuEvent(event)
