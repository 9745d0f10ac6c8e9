"""Where the main window opens: inside the screen it opens on, where it was last time if that screen is
still there, with the panel sizes it had. ``choose_place`` decides from plain rectangles (no screen needed);
``WindowPlace`` applies the answer to a window and keeps it in QSettings under ``window/``."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QEvent, QMargins, QObject, QRect, QSettings, QSize, Qt
from PySide6.QtGui import QGuiApplication, QWindow
from PySide6.QtWidgets import QAbstractButton, QMainWindow, QSplitter

log = logging.getLogger(__name__)

PREFERRED = QSize(1360, 860)
# The window manager tells the real frame only once the window is mapped; until then, a title bar and
# thin borders. The window is moved again after it is shown if the real frame sticks out.
FRAME_GUESS = QMargins(4, 32, 4, 4)


@dataclass(frozen=True)
class Screen:
    """A screen's name and its available geometry (without task bars and docks)."""

    name: str
    area: QRect


@dataclass(frozen=True)
class Place:
    """A window's client rectangle (its normal one when maximized), and the screen it is on."""

    screen: str
    rect: QRect
    maximized: bool = False


def fit_inside(rect: QRect, area: QRect, frame: QMargins) -> QRect:
    """``rect`` (a client rectangle) made no larger than ``area`` with its frame, and moved so that the
    frame lies inside ``area``; where the frame cannot fit, the top left corner (the title bar) stays in."""
    inner = area.marginsRemoved(frame)
    width = max(1, min(rect.width(), inner.width()))
    height = max(1, min(rect.height(), inner.height()))
    x = max(inner.left(), min(rect.x(), inner.right() + 1 - width))
    y = max(inner.top(), min(rect.y(), inner.bottom() + 1 - height))
    return QRect(x, y, width, height)


def centred(size: QSize, area: QRect, frame: QMargins) -> QRect:
    """A client rectangle of ``size`` (at most what fits) centred, frame included, in ``area``."""
    outer = QRect(0, 0, size.width(), size.height()).marginsAdded(frame)
    outer.moveCenter(area.center())
    return fit_inside(outer.marginsRemoved(frame), area, frame)


def choose_place(
    screens: Sequence[Screen],
    saved: Place | None,
    preferred: QSize = PREFERRED,
    frame: QMargins = FRAME_GUESS,
) -> Place:
    """Where the window opens. ``screens[0]`` is the primary screen. A saved place is used only if its
    screen still exists and its rectangle still touches that screen; then it is moved (and shrunk) to lie
    inside it. Otherwise the window opens centred on the primary screen at ``preferred`` size, or smaller
    where that does not fit. A saved maximized state is kept either way."""
    if not screens:
        return Place("", QRect(0, 0, preferred.width(), preferred.height()))
    maximized = saved.maximized if saved is not None else False
    if saved is not None:
        for screen in screens:
            if screen.name == saved.screen and screen.area.intersects(saved.rect.marginsAdded(frame)):
                return Place(screen.name, fit_inside(saved.rect, screen.area, frame), maximized)
    primary = screens[0]
    return Place(primary.name, centred(preferred, primary.area, frame), maximized)


def current_screens() -> list[Screen]:
    """The screens as they are now, the primary one first."""
    primary = QGuiApplication.primaryScreen()
    screens = [primary] + [s for s in QGuiApplication.screens() if s is not primary] if primary else []
    return [Screen(s.name(), s.availableGeometry()) for s in screens]


def _ints(value: Any, count: int) -> list[int] | None:
    """``count`` whole numbers from what QSettings gives back (a list of texts in INI files), or None."""
    if isinstance(value, str):
        value = value.replace(",", " ").split()
    if not isinstance(value, (list, tuple)) or len(value) != count:
        return None
    try:
        return [int(v) for v in value]
    except (TypeError, ValueError):
        return None


class WindowPlace(QObject):
    """Opens ``window`` where ``choose_place`` says, and remembers its place and its splitter's sizes in
    ``settings`` (none: nothing is read or kept)."""

    def __init__(self, window: QMainWindow, splitter: QSplitter, settings: QSettings | None) -> None:
        super().__init__(window)
        self.window = window
        self.splitter = splitter
        self.settings = settings
        self.frame_checked = False
        self.buttons: dict[str, QAbstractButton] = {}
        window.installEventFilter(self)

    def saved(self) -> Place | None:
        if self.settings is None:
            return None
        rect = _ints(self.settings.value("window/rect"), 4)
        if rect is None or rect[2] <= 0 or rect[3] <= 0:
            return None
        maximized = str(self.settings.value("window/maximized", "false")).lower() == "true"
        return Place(str(self.settings.value("window/screen", "")), QRect(*rect), maximized)

    def restore(self, screens: Sequence[Screen] | None = None) -> Place:
        """Place the window (at start-up, before it is shown) and give the panels their saved sizes."""
        place = choose_place(current_screens() if screens is None else screens, self.saved())
        self.window.setGeometry(place.rect)
        if place.maximized:
            self.window.setWindowState(self.window.windowState() | Qt.WindowState.WindowMaximized)
        stored = self.settings.value("window/splitter") if self.settings is not None else None
        sizes = _ints(stored, self.splitter.count())
        if sizes is not None and min(sizes) >= 0 and sum(sizes) > 0:
            self.splitter.setSizes(sizes)
        log.debug("window placed at %s on screen %r", place.rect, place.screen)
        return place

    def remember(self, key: str, button: QAbstractButton) -> None:
        """Keep a checkable button's state (a folded section's, say) between runs."""
        self.buttons[key] = button
        value = self.settings.value(key) if self.settings is not None else None
        if value is not None:
            button.setChecked(str(value).lower() == "true")

    def save(self) -> None:
        if self.settings is None:
            return
        for key, button in self.buttons.items():
            self.settings.setValue(key, button.isChecked())
        rect = self.window.normalGeometry()
        if not rect.isValid():
            rect = self.window.geometry()
        screen = self.window.screen()
        self.settings.setValue("window/screen", screen.name() if screen is not None else "")
        self.settings.setValue("window/rect", [rect.x(), rect.y(), rect.width(), rect.height()])
        self.settings.setValue("window/maximized", self.window.isMaximized())
        self.settings.setValue("window/splitter", self.splitter.sizes())
        self.settings.sync()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        # The window manager's frame is known once the window is exposed: move the window back inside
        # if the guess was short.
        if self.frame_checked:
            return False
        handle = self.window.windowHandle()
        if watched is self.window and event.type() == QEvent.Type.Show and handle is not None:
            handle.installEventFilter(self)
        elif watched is handle and handle is not None and event.type() == QEvent.Type.Expose:
            self._check_frame(handle)
        return False

    def _check_frame(self, handle: QWindow) -> None:
        frame = handle.frameMargins()
        if frame.isNull() or not self.window.isVisible():
            return  # not framed yet (or never, offscreen)
        self.frame_checked = True
        handle.removeEventFilter(self)
        screen = self.window.screen()
        normal = self.window.windowState() == Qt.WindowState.WindowNoState
        if not normal or screen is None or screen.availableGeometry().contains(self.window.frameGeometry()):
            return
        self.window.setGeometry(fit_inside(self.window.geometry(), screen.availableGeometry(), frame))
