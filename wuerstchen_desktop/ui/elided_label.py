"""A one-line label that gives up width before anything else in a row: a long text ends in "…" (hovering
shows all of it) instead of widening the window past the screen."""

from __future__ import annotations

from PySide6.QtCore import QEvent, QSize, Qt
from PySide6.QtGui import QHelpEvent, QPainter, QPaintEvent
from PySide6.QtWidgets import QLabel, QToolTip

MIN_CHARS = 8


class ElidedLabel(QLabel):
    explanation = ""  # shown on hover below the whole text

    def minimumSizeHint(self) -> QSize:
        hint = super().minimumSizeHint()
        return QSize(min(hint.width(), self.fontMetrics().averageCharWidth() * MIN_CHARS), hint.height())

    def shown_text(self) -> str:
        """The text as it fits the label's width now."""
        width = self.contentsRect().width()
        return self.fontMetrics().elidedText(self.text(), Qt.TextElideMode.ElideRight, width)

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.drawText(self.contentsRect(), int(self.alignment()), self.shown_text())

    def event(self, event: QEvent) -> bool:
        asked = event.type() == QEvent.Type.ToolTip and isinstance(event, QHelpEvent)
        whole = self.text() if self.shown_text() != self.text() else ""
        tip = "\n\n".join(part for part in (whole, self.explanation) if part)
        if asked and not self.toolTip() and tip:
            QToolTip.showText(event.globalPos(), tip, self)  # type: ignore[attr-defined]
            return True
        return super().event(event)
