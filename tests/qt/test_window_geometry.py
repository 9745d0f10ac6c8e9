"""The window fits the screen it opens on, comes back where it was (only where that screen still is), and
keeps Generate, Compose and Cancel in sight down to a 1024x600 screen."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import QEvent, QMargins, QPoint, QRect, QSettings, QSize
from PySide6.QtGui import QHelpEvent
from PySide6.QtWidgets import QApplication, QToolTip, QWidget

from tests.helpers.window import HARMLESS_QT_WARNINGS, WAIT_MS, fast
from wuerstchen_desktop.ui.window_geometry import (
    FRAME_GUESS,
    PREFERRED,
    Place,
    Screen,
    choose_place,
    fit_inside,
)

LAPTOP = Screen("eDP-1", QRect(0, 0, 1024, 600))
WIDE = Screen("DP-1", QRect(0, 0, 1920, 1080))
RIGHT = Screen("HDMI-1", QRect(1920, 0, 1280, 1024))
FRAME = QMargins(2, 30, 2, 6)


def framed_inside(rect: QRect, screen: Screen, frame: QMargins = FRAME) -> bool:
    return screen.area.contains(rect.marginsAdded(frame))


# -- choosing the place, from rectangles alone -----------------------------------------------------------
def test_a_small_screen_gets_the_whole_screen_not_the_preferred_size() -> None:
    place = choose_place([LAPTOP], None, PREFERRED, FRAME)
    assert place.screen == "eDP-1" and not place.maximized
    assert place.rect == QRect(2, 30, 1020, 564)  # 1024x600 less the frame
    assert framed_inside(place.rect, LAPTOP)


def test_a_large_screen_gets_the_preferred_size_centred() -> None:
    place = choose_place([WIDE, RIGHT], None, PREFERRED, FRAME)
    assert place.screen == "DP-1" and place.rect.size() == PREFERRED
    outer = place.rect.marginsAdded(FRAME)
    assert abs(outer.center().x() - WIDE.area.center().x()) <= 1
    assert abs(outer.center().y() - WIDE.area.center().y()) <= 1


def test_the_saved_place_comes_back_on_its_own_screen() -> None:
    saved = Place("HDMI-1", QRect(2100, 200, 900, 700))
    assert choose_place([WIDE, RIGHT], saved, PREFERRED, FRAME) == saved


def test_a_place_on_a_screen_unplugged_since_falls_back_to_the_primary_screens_centre() -> None:
    saved = Place("HDMI-1", QRect(2100, 200, 900, 700))
    place = choose_place([LAPTOP], saved, PREFERRED, FRAME)
    assert place == choose_place([LAPTOP], None, PREFERRED, FRAME)
    # The same screen name with the window no longer on it (the layout changed): the centre too.
    away = Place("eDP-1", QRect(3000, 2000, 800, 500))
    assert choose_place([LAPTOP], away, PREFERRED, FRAME) == place


def test_a_place_partly_off_screen_is_moved_inside_keeping_its_size() -> None:
    saved = Place("DP-1", QRect(1500, 800, 800, 500))
    place = choose_place([WIDE, RIGHT], saved, PREFERRED, FRAME)
    assert place.screen == "DP-1" and place.rect.size() == QSize(800, 500)
    assert framed_inside(place.rect, WIDE)
    assert place.rect.topLeft() == QPoint(1920 - 2 - 800, 1080 - 6 - 500)


def test_a_place_larger_than_its_screen_now_is_shrunk_to_it() -> None:
    saved = Place("eDP-1", QRect(100, 100, 1360, 860))
    place = choose_place([LAPTOP], saved, PREFERRED, FRAME)
    assert place.rect == QRect(2, 30, 1020, 564)


def test_a_maximized_window_opens_maximized_with_its_normal_place_inside() -> None:
    saved = Place("DP-1", QRect(-400, 50, 1000, 700), maximized=True)
    place = choose_place([WIDE], saved, PREFERRED, FRAME)
    assert place.maximized and framed_inside(place.rect, WIDE)
    gone = Place("HDMI-1", QRect(2100, 200, 900, 700), maximized=True)
    assert choose_place([WIDE], gone, PREFERRED, FRAME).maximized


@pytest.mark.parametrize(
    "area", [QRect(0, 0, 1024, 600), QRect(-1280, 200, 1280, 720), QRect(0, 0, 300, 200)]
)
@pytest.mark.parametrize(
    "rect", [QRect(-50, -50, 400, 300), QRect(900, 500, 2000, 1500), QRect(10, 40, 1, 1)]
)
def test_a_fitted_rectangle_keeps_its_title_bar_on_the_screen(area: QRect, rect: QRect) -> None:
    fitted = fit_inside(rect, area, FRAME_GUESS)
    assert area.contains(fitted.marginsAdded(FRAME_GUESS))
    assert fitted.width() <= rect.width() and fitted.height() <= rect.height()


# -- the window ------------------------------------------------------------------------------------------
def fully_shown(widget: QWidget, window: QWidget) -> None:
    """``widget`` is shown whole: not hidden, not clipped by a parent, inside the window."""
    name = widget.accessibleName() or widget.objectName() or type(widget).__name__
    assert widget.isVisible(), f"{name} is hidden"
    where = QRect(widget.mapTo(window, QPoint(0, 0)), widget.size())
    assert window.rect().contains(where), f"{name} at {where} is outside the window {window.rect()}"
    assert widget.visibleRegion().boundingRect() == widget.rect(), f"{name} is cut off"


@pytest.mark.qt_log_ignore(*HARMLESS_QT_WARNINGS, "This plugin does not support raise")  # the tooltip
def test_generate_compose_and_cancel_stay_in_sight_on_a_1024x600_screen(qtbot, make_window) -> None:
    window = make_window()
    place = choose_place([LAPTOP], None)
    window.setGeometry(place.rect)

    def fits() -> None:
        assert window.geometry() == place.rect, "the window is larger than the screen allows"

    qtbot.waitUntil(fits, timeout=5_000)
    assert framed_inside(window.geometry(), LAPTOP, FRAME_GUESS)
    # A job runs (Cancel shows) and the status says something long, as the engine's errors do.
    long_status = (
        "The engine could not start: the decoder folder /home/someone/models/wuerstchen-decoder-v2 has no "
        "text encoder; choose the folder that holds model_index.json in Settings."
    )
    window.service.engine_status.disconnect(window.engine_label.setText)  # the long text stays
    fast(window, steps=200)
    with qtbot.waitSignal(window.service.job_started, timeout=WAIT_MS):
        window.generate()
    window.engine_label.setText(long_status)
    panel = window.panel

    def in_sight() -> None:
        for widget in (
            panel.generate_button,
            panel.compose_button,
            panel.compose_count,
            window.cancel_button,
        ):
            fully_shown(widget, window)

    qtbot.waitUntil(in_sight, timeout=5_000)
    assert window.geometry() == place.rect  # the status bar did not widen the window
    # What the status bar has no room for ends in "…", and hovering shows all of it.
    label = window.engine_label
    assert label.shown_text().endswith("…") and long_status.startswith(label.shown_text()[:-1])
    QApplication.sendEvent(
        label, QHelpEvent(QEvent.Type.ToolTip, QPoint(4, 4), label.mapToGlobal(QPoint(4, 4)))
    )
    assert QToolTip.text().startswith(long_status)
    # The fields scroll rather than being cut off: never sideways, every one reachable.
    panel.advanced.set_open(True)
    scroll = panel.fields_scroll
    wide_enough = lambda: scroll.viewport().width() >= scroll.fields.minimumSizeHint().width()  # noqa: E731
    qtbot.waitUntil(wide_enough, timeout=5_000)
    assert scroll.verticalScrollBar().maximum() > 0
    scroll.ensureWidgetVisible(panel.prior_variant)
    qtbot.waitUntil(lambda: fully_shown(panel.prior_variant, window), timeout=5_000)
    with qtbot.waitSignal(window.service.job_cancelled, timeout=WAIT_MS):
        window.service.cancel_current()


def test_place_maximized_state_and_panel_sizes_come_back(qtbot, make_window, tmp_path: Path) -> None:
    kept = tmp_path / "window.ini"
    first = make_window(place=QSettings(str(kept), QSettings.Format.IniFormat))
    screens = [Screen(first.screen().name(), QRect(0, 0, 1920, 1080))]
    moved = QRect(100, 80, 1200, 700)
    first.setGeometry(moved)
    qtbot.waitUntil(lambda: first.geometry() == moved, timeout=5_000)
    first.splitter.setSizes([330, 560, 290])
    sizes = first.splitter.sizes()
    assert not first.panel.advanced.body.isVisibleTo(first)  # folded at first
    first.panel.advanced.toggle.click()
    first.close()
    assert "window" in kept.read_text(encoding="utf-8")

    second = make_window(place=QSettings(str(kept), QSettings.Format.IniFormat))
    assert second.place.restore(screens) == Place(screens[0].name, moved)
    qtbot.waitUntil(lambda: second.geometry() == moved, timeout=5_000)
    assert second.splitter.sizes() == sizes
    assert second.panel.advanced.body.isVisibleTo(second)  # unfolded, as it was left
    second.showMaximized()
    qtbot.waitUntil(second.isMaximized, timeout=5_000)
    second.close()

    third = make_window(place=QSettings(str(kept), QSettings.Format.IniFormat))
    place = third.place.restore(screens)
    assert place.maximized and place.rect == moved
    assert third.isMaximized() and third.normalGeometry() == moved


def test_a_damaged_saved_place_opens_the_window_centred(qtbot, make_window, tmp_path: Path) -> None:
    kept = QSettings(str(tmp_path / "window.ini"), QSettings.Format.IniFormat)
    kept.setValue("window/rect", "left, top, wide")
    kept.setValue("window/splitter", ["a", "b"])
    window = make_window(place=kept)
    assert window.place.saved() is None
    assert window.place.restore([LAPTOP]) == choose_place([LAPTOP], None)
