"""System, dark or light appearance."""

from __future__ import annotations

from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication, QStyleFactory

_system_style: str | None = None
_system_palette: QPalette | None = None


def apply_theme(app: QApplication, theme: str) -> None:
    global _system_style, _system_palette
    if _system_style is None:
        _system_style = app.style().name()
        _system_palette = QPalette(app.palette())
    if theme == "system":
        app.setStyle(QStyleFactory.create(_system_style))
        if _system_palette is not None:
            app.setPalette(_system_palette)
        return
    app.setStyle(QStyleFactory.create("Fusion"))
    app.setPalette(dark_palette() if theme == "dark" else light_palette())


def dark_palette() -> QPalette:
    p = QPalette()
    role = QPalette.ColorRole
    # Fields and check boxes lighter than the window, as dark themes draw them: Fusion draws a check
    # box's square in Base with a frame darker than Window, which a darker Base would swallow.
    window, base, text = QColor(37, 37, 40), QColor(62, 62, 66), QColor(230, 230, 230)
    for r, c in (
        (role.Window, window),
        (role.WindowText, text),
        (role.Base, base),
        (role.AlternateBase, QColor(52, 52, 56)),
        (role.ToolTipBase, window),
        (role.ToolTipText, text),
        (role.Text, text),
        (role.Button, window),
        (role.ButtonText, text),
        (role.BrightText, QColor(255, 80, 80)),
        (role.Highlight, QColor(42, 130, 218)),
        (role.HighlightedText, QColor(255, 255, 255)),
        (role.PlaceholderText, QColor(140, 140, 140)),
        (role.Link, QColor(90, 160, 240)),
    ):
        p.setColor(r, c)
    p.setColor(QPalette.ColorGroup.Disabled, role.Text, QColor(120, 120, 120))
    p.setColor(QPalette.ColorGroup.Disabled, role.ButtonText, QColor(120, 120, 120))
    return p


def light_palette() -> QPalette:
    return QStyleFactory.create("Fusion").standardPalette()
