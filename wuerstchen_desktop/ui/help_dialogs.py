"""Help → Keyboard shortcuts (read from the menus themselves) and Help → About (versions, models in use)."""

from __future__ import annotations

import html
from importlib import metadata

import PySide6
from PySide6.QtCore import qVersion
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QHeaderView,
    QMenu,
    QMenuBar,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from wuerstchen_desktop import __version__
from wuerstchen_desktop.core.appdirs import DISPLAY_NAME


def menu_shortcuts(bar: QMenuBar) -> list[tuple[str, QAction]]:
    """Each menu entry that has keys, with its menu's path ("Edit", "View → Theme"), in menu order."""
    found: list[tuple[str, QAction]] = []

    def walk(path: str, actions: list[QAction]) -> None:
        for action in actions:
            menu = action.menu()
            name = action.text().replace("&", "")
            if isinstance(menu, QMenu):
                walk(f"{path} → {name}" if path else name, menu.actions())
            elif action.shortcuts():
                found.append((path, action))

    walk("", list(bar.actions()))
    return found


def keys_text(action: QAction) -> str:
    return ", ".join(k.toString(QKeySequence.SequenceFormat.NativeText) for k in action.shortcuts())


class ShortcutsDialog(QDialog):
    """A table of every shortcut in the menu bar: keys, command, and the menu it is in."""

    def __init__(self, bar: QMenuBar, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(self.tr("Keyboard shortcuts"))
        rows = menu_shortcuts(bar)
        self.table = QTableWidget(len(rows), 3)
        self.table.setHorizontalHeaderLabels([self.tr("Keys"), self.tr("Command"), self.tr("Menu")])
        self.table.verticalHeader().hide()
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        for row, (path, action) in enumerate(rows):
            for column, text in enumerate((keys_text(action), action.text().replace("&", ""), path)):
                self.table.setItem(row, column, QTableWidgetItem(text))
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.horizontalHeader().setStretchLastSection(True)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.table)
        layout.addWidget(buttons)
        self.resize(520, 460)


def package_version(name: str) -> str:
    """An installed package's version, read without importing it (the window never imports torch)."""
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def about_text(prior: str, decoder: str, engine: str) -> str:
    """The About box's rich text: the app's version and what it runs on."""
    rows = [
        ("PyTorch", package_version("torch")),
        ("Transformers", package_version("transformers")),
        ("PySide6 (Qt)", f"{PySide6.__version__} ({qVersion()})"),
        ("Stage C (prior)", prior),
        ("Stage B and A (decoder)", decoder),
    ]
    if engine:
        rows.append(("Engine", engine))
    cells = "".join(f"<tr><td>{html.escape(k)}</td><td>{html.escape(v)}</td></tr>" for k, v in rows)
    return f"<h3>{html.escape(DISPLAY_NAME)} {html.escape(__version__)}</h3><table>{cells}</table>"
