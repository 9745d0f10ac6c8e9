"""The headers of a grid on the contact sheet: each column's value on top, each row's value on the left
with a button (and a right-click menu) that decodes the whole row."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QContextMenuEvent, QFont
from PySide6.QtWidgets import QLabel, QMenu, QPushButton, QVBoxLayout, QWidget


def _label(text: str) -> QLabel:
    label = QLabel(text)
    label.setWordWrap(True)
    label.setToolTip(text)
    font = QFont(label.font())
    font.setBold(True)
    label.setFont(font)
    return label


def column_header(text: str) -> QLabel:
    """A column's value, centred over its tiles."""
    label = _label(text)
    label.setAlignment(Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignBottom)
    label.setAccessibleName(text)
    return label


class RowHeader(QWidget):
    """A row's value and "Decode row"; right-click offers the same."""

    decode_requested = Signal(int)  # the row

    def __init__(self, row: int, text: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.row = row
        self.label = _label(text)
        self.label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        self.decode_button = QPushButton(self.tr("Decode row"))
        self.decode_button.setToolTip(self.tr("Decode every composition of this row into a full image"))
        self.decode_button.clicked.connect(lambda: self.decode_requested.emit(self.row))
        self.decode_button.setEnabled(False)
        self.setAccessibleName(text)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addStretch(1)
        layout.addWidget(self.label)
        layout.addWidget(self.decode_button, 0, Qt.AlignmentFlag.AlignRight)
        layout.addStretch(1)

    def contextMenuEvent(self, event: QContextMenuEvent) -> None:
        menu = QMenu(self)
        action = menu.addAction(self.tr("Decode this row"), lambda: self.decode_requested.emit(self.row))
        action.setEnabled(self.decode_button.isEnabled())
        menu.exec(event.globalPos())
