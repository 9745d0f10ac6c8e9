"""Live Stage C previews laid out for the window: the images of a ``Preview``, a near-square
sheet of them for the big image view, and the caption that says what they are.

A ``Preview`` holds ``job_id, step, total, width, height, images`` (one RGB888 buffer of
``width * height * 3`` bytes per image), ``seeds`` and ``approximate`` (no previewer network: layout only).
"""

from __future__ import annotations

import math

from PySide6.QtCore import QRect, QSize, Qt
from PySide6.QtGui import (
    QImage,
    QPainter,
    QPalette,
    QPixmap,
)
from PySide6.QtWidgets import (
    QApplication,
)

from wuerstchen_desktop.core.jobs.job import Preview

MAX_TILE = 320  # logical pixels, the longer side of a tile's image
MIN_TILE = 96
GAP = 8
_NAV_KEYS = (
    Qt.Key.Key_Left,
    Qt.Key.Key_Right,
    Qt.Key.Key_Up,
    Qt.Key.Key_Down,
    Qt.Key.Key_Home,
    Qt.Key.Key_End,
)


def fill(text: str, *args: object) -> str:
    """Qt's ``%1``, ``%2`` … placeholders of a translated string, filled in."""
    for i, arg in enumerate(args, 1):
        text = text.replace(f"%{i}", str(arg))
    return text


def preview_images(preview: Preview) -> list[QImage]:
    """One QImage (owning a copy of the bytes) per image of the preview; a buffer of the wrong length gives a
    null QImage in its place, so indices keep matching ``preview.seeds``."""
    w, h = preview.width, preview.height
    return [
        QImage(bytes(data), w, h, w * 3, QImage.Format.Format_RGB888).copy()
        if w > 0 and h > 0 and len(data) == w * h * 3
        else QImage()
        for data in preview.images
    ]


def grid_shape(count: int) -> tuple[int, int]:
    """Columns and rows of a near-square grid for ``count`` cells."""
    cols = max(1, math.ceil(math.sqrt(count)))
    return cols, max(1, math.ceil(count / cols))


def fit(width: int, height: int, box_w: int, box_h: int) -> QSize:
    return QSize(max(1, width), max(1, height)).scaled(
        QSize(box_w, box_h), Qt.AspectRatioMode.KeepAspectRatio
    )


def preview_sheet(preview: Preview, cell: int, ratio: float = 1.0) -> QPixmap:
    """All images of a preview in a near-square grid, each scaled smoothly to fit ``cell`` x ``cell`` logical
    pixels (keeping its aspect ratio), ``GAP`` apart, on the theme's window colour; the last row is centred.
    ``ratio`` is the pixmap's device pixel ratio (1.0 suits ``ImageView``, whose 100% is per pixel)."""
    images = preview_images(preview)
    cols, rows = grid_shape(len(images))
    size = fit(preview.width, preview.height, cell, cell)
    w, h = size.width(), size.height()
    sheet_w, sheet_h = cols * w + (cols - 1) * GAP, rows * h + (rows - 1) * GAP
    pixmap = QPixmap(round(sheet_w * ratio), round(sheet_h * ratio))
    pixmap.setDevicePixelRatio(ratio)
    palette = QApplication.palette()
    pixmap.fill(palette.color(QPalette.ColorRole.Window))
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
    for i, image in enumerate(images):
        row, col = divmod(i, cols)
        in_row = min(cols, len(images) - row * cols)
        target = QRect((sheet_w - in_row * (w + GAP) + GAP) // 2 + col * (w + GAP), row * (h + GAP), w, h)
        if image.isNull():
            painter.fillRect(target, palette.color(QPalette.ColorRole.AlternateBase))
        else:
            painter.drawImage(target, image)
    painter.end()
    return pixmap


def preview_caption(preview: Preview) -> str:
    """The caption for a live preview, e.g. "Preview · step 12/29"."""
    translate = QApplication.translate
    if preview.approximate:
        text = translate("compose", "Approximate preview (layout only, not colours) · step %1/%2")
    else:
        text = translate("compose", "Preview · step %1/%2")
    return fill(text, preview.step, preview.total)
