"""Steps through the real window: fill the panel with a small, quick job, run it, wait for its files."""

from __future__ import annotations

WAIT_MS = 60_000
# Qt warnings that do not fail a window test (see tests/qt/conftest.py): the offscreen platform's own.
HARMLESS_QT_WARNINGS = ("This plugin does not support propagateSizeHints",)


def generate_and_wait(qtbot, window, count: int) -> None:
    with qtbot.waitSignal(window.service.job_finished, timeout=WAIT_MS):
        window.generate()
    qtbot.waitUntil(lambda: window.gallery.count() >= count, timeout=WAIT_MS)


def fast(window, prompt: str = "a cat", seed: int = 5, images: int = 1, steps: int = 2) -> None:
    """Fill the panel with a small, quick job."""
    from wuerstchen_desktop.core.params import GenerationParams

    window.panel.set_params(
        GenerationParams(
            prompt, width=256, height=256, seed=seed, images=images, prior_steps=steps, decoder_steps=1
        )
    )


def compose_and_wait(qtbot, window, prompt: str, seed: int, count: int = 2):
    """Compose ``count`` seeds from ``seed`` through the window and wait until every tile shows its file;
    returns the contact sheet."""
    fast(window, prompt=prompt, seed=seed, steps=2)
    window.panel.compose_count.setValue(count)
    sheet = window.flow.sheet
    with qtbot.waitSignal(window.service.job_finished, timeout=WAIT_MS):
        window.flow.compose()
    qtbot.waitUntil(lambda: all(t.item is not None for t in sheet.tiles), timeout=WAIT_MS)
    return sheet


def drop_on(widget, data) -> bool:
    """A real drop on ``widget``'s centre, as a file manager's drag sends it: drag-enter, then (if the
    enter was accepted) drop. Returns whether the drag-enter was accepted."""
    from PySide6.QtCore import QPointF, Qt
    from PySide6.QtGui import QDragEnterEvent, QDropEvent
    from PySide6.QtWidgets import QApplication

    where = QPointF(widget.rect().center())
    action, buttons = Qt.DropAction.CopyAction, Qt.MouseButton.LeftButton
    mods = Qt.KeyboardModifier.NoModifier
    try:
        enter = QDragEnterEvent(where, action, data, buttons, mods)
    except TypeError:  # PySide6 before 6.8 takes a QPoint
        enter = QDragEnterEvent(where.toPoint(), action, data, buttons, mods)
    QApplication.sendEvent(widget, enter)
    if enter.isAccepted():
        QApplication.sendEvent(widget, QDropEvent(where, action, data, buttons, mods))
    return enter.isAccepted()
