"""The prompt panel's fields in a scroll area: on a short screen they scroll, the buttons stay."""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt
from PySide6.QtWidgets import QFrame, QScrollArea, QWidget

MIN_FIELDS_HEIGHT = 120  # the prompt box and a little more; the rest scrolls


class FieldsScroll(QScrollArea):
    """Scrolls the panel's fields up and down, never sideways: as wide as they need, as short as asked."""

    def __init__(self, fields: QWidget) -> None:
        super().__init__()
        self.fields = fields
        self.setWidget(fields)
        self.setWidgetResizable(True)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)

    def minimumSizeHint(self) -> QSize:
        inner = self.fields.minimumSizeHint()
        bar = self.verticalScrollBar().sizeHint().width()
        return QSize(inner.width() + bar, min(inner.height(), MIN_FIELDS_HEIGHT))

    def sizeHint(self) -> QSize:
        inner = self.fields.sizeHint()
        return QSize(inner.width() + self.verticalScrollBar().sizeHint().width(), inner.height())
