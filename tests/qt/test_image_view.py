"""The image view on its own: zoom with the wheel and pinch around the cursor, pan by dragging, the zoom
and the file's details in its bar, and what an empty view says."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import QEvent, QPoint, QPointF, Qt
from PySide6.QtGui import (
    QColor,
    QMouseEvent,
    QNativeGestureEvent,
    QPixmap,
    QPointingDevice,
    QWheelEvent,
)
from PySide6.QtWidgets import QApplication, QGestureEvent, QPinchGesture

from wuerstchen_desktop.core.library.history import Item


@pytest.fixture
def view(qtbot):
    from wuerstchen_desktop.ui.image_view import ImageView

    view = ImageView()
    qtbot.addWidget(view)
    view.resize(640, 480)
    view.show()
    qtbot.waitExposed(view)
    return view


def picture(width: int = 1024, height: int = 768) -> QPixmap:
    pixmap = QPixmap(width, height)
    pixmap.fill(QColor(40, 90, 160))
    return pixmap


def item(path: Path, seed: int, kind: str = "image") -> Item:
    return Item(1, path, 0.0, "a cat", "", seed, 1024, 768, "wuerstchen", True, False, kind)


def scene_at(view, pos: QPointF) -> QPointF:
    return view.viewportTransform().inverted()[0].map(pos)


def wheel(view, pos: QPointF, notches: float, pixels: QPoint | None = None, ctrl: bool = False) -> None:
    event = QWheelEvent(
        pos,
        view.viewport().mapToGlobal(pos),
        pixels or QPoint(),
        QPoint(0, round(120 * notches)),
        Qt.MouseButton.NoButton,
        Qt.KeyboardModifier.ControlModifier if ctrl else Qt.KeyboardModifier.NoModifier,
        Qt.ScrollPhase.NoScrollPhase,
        False,
    )
    QApplication.sendEvent(view.viewport(), event)


def near(a: QPointF, b: QPointF, tolerance: float = 1.5) -> bool:
    return abs(a.x() - b.x()) <= tolerance and abs(a.y() - b.y()) <= tolerance


def test_an_empty_view_says_what_to_do(view) -> None:
    assert view.hint.isVisible()
    assert view.hint.text() == "Type a prompt and press Generate (Ctrl+Enter), or drop an image here."
    assert not view.bar.isVisible() and not view.strip.isVisible()
    view.show_file(Path("/pictures/cat.png"), picture())
    assert not view.hint.isVisible() and view.bar.isVisible()


def test_the_bar_names_the_file_its_pixel_size_and_seed(view) -> None:
    path = Path("/pictures/20261129-cat.png")
    view.show_file(path, picture(1024, 768))
    assert view.info_text() == "20261129-cat.png · 1024 × 768 px"
    view.know(item(path, 42))  # the history's record of it: no file is read again
    assert view.info_text() == "20261129-cat.png · 1024 × 768 px · seed 42"
    view.set_pixmap(picture(64, 64))  # a live preview: no file, no details
    assert view.path is None and view.info_text() == ""


def test_the_wheel_zooms_around_the_cursor(view) -> None:
    view.show_file(Path("/pictures/cat.png"), picture())
    view.set_fit(False)
    assert view.zoom() == pytest.approx(1.0) and view.zoom_text() == "100 %"
    assert view.bar.actual_button.isChecked() and not view.bar.fit_button.isChecked()
    pos = QPointF(150, 120)
    under = scene_at(view, pos)
    wheel(view, pos, 1)
    assert view.zoom() == pytest.approx(1.25) and view.zoom_text() == "125 %"
    assert near(scene_at(view, pos), under)  # the point under the cursor stays under it
    assert not view.bar.actual_button.isChecked() and not view.fit
    wheel(view, pos, -1)
    assert view.zoom() == pytest.approx(1.0) and near(scene_at(view, pos), under)


def test_a_touchpad_scroll_pans_and_ctrl_makes_it_zoom(view) -> None:
    view.show_file(Path("/pictures/cat.png"), picture())
    view.set_fit(False)
    wheel(view, QPointF(100, 100), 0.5, pixels=QPoint(0, 60))
    assert view.zoom() == pytest.approx(1.0)
    wheel(view, QPointF(100, 100), 1, pixels=QPoint(0, 120), ctrl=True)
    assert view.zoom() == pytest.approx(1.25)


def test_a_pinch_zooms_around_the_fingers(view) -> None:
    view.show_file(Path("/pictures/cat.png"), picture())
    view.set_fit(False)
    pos = QPointF(400, 300)
    under = scene_at(view, pos)
    native = QNativeGestureEvent(
        Qt.NativeGestureType.ZoomNativeGesture,
        QPointingDevice.primaryPointingDevice(),
        2,
        pos,
        pos,
        view.viewport().mapToGlobal(pos),
        0.5,
        QPointF(),
    )  # a touchpad pinch (macOS, Wayland): value is the change of scale
    QApplication.sendEvent(view.viewport(), native)
    assert view.zoom() == pytest.approx(1.5) and near(scene_at(view, pos), under)

    pinch = QPinchGesture()  # a touch screen's pinch, through Qt's gesture framework
    pinch.setChangeFlags(QPinchGesture.ChangeFlag.ScaleFactorChanged)
    pinch.setScaleFactor(2.0)
    pinch.setCenterPoint(view.viewport().mapToGlobal(pos))
    QApplication.sendEvent(view.viewport(), QGestureEvent([pinch]))
    assert view.zoom() == pytest.approx(3.0) and near(scene_at(view, pos), under)
    assert view.zoom_text() == "300 %"


def test_dragging_pans_the_image(view) -> None:
    view.show_file(Path("/pictures/cat.png"), picture(2000, 1500))
    view.set_fit(False)
    h, v = view.horizontalScrollBar(), view.verticalScrollBar()
    start = (h.value(), v.value())
    port = view.viewport()

    def mouse(kind: QEvent.Type, x: int, y: int, buttons: Qt.MouseButton) -> None:
        at = QPointF(x, y)
        event = QMouseEvent(
            kind,
            at,
            port.mapToGlobal(at),
            Qt.MouseButton.LeftButton if kind != QEvent.Type.MouseMove else Qt.MouseButton.NoButton,
            buttons,
            Qt.KeyboardModifier.NoModifier,
        )
        QApplication.sendEvent(port, event)

    mouse(QEvent.Type.MouseButtonPress, 300, 250, Qt.MouseButton.LeftButton)
    mouse(QEvent.Type.MouseMove, 250, 220, Qt.MouseButton.LeftButton)
    mouse(QEvent.Type.MouseMove, 200, 190, Qt.MouseButton.LeftButton)
    mouse(QEvent.Type.MouseButtonRelease, 200, 190, Qt.MouseButton.NoButton)
    assert (h.value() - start[0], v.value() - start[1]) == (100, 60)  # the image follows the hand


def test_fit_and_100_percent_buttons(view) -> None:
    view.show_file(Path("/pictures/cat.png"), picture(2048, 1536))
    assert view.fit and view.bar.fit_button.isChecked()
    fitted = view.zoom()
    assert fitted < 0.5 and view.zoom_text() == f"{fitted * 100:.0f} %"
    view.bar.actual_button.click()
    assert view.zoom() == pytest.approx(1.0) and not view.fit and view.zoom_text() == "100 %"
    view.bar.fit_button.click()
    assert view.fit and view.zoom() == pytest.approx(fitted)


def test_a_batch_strip_makes_room_and_the_image_still_fits(view) -> None:
    paths = [Path(f"/pictures/{i}.png") for i in range(3)]
    view.set_batch(paths)
    assert not view.strip.isVisible()  # nothing shown yet
    view.show_file(paths[1], picture(512, 512))
    assert view.strip.isVisible() and view.strip.paths() == paths and view.strip.currentRow() == 1
    port = view.viewport()
    assert port.geometry().bottom() < view.strip.geometry().top()  # the strip is below, not over it

    def fits() -> bool:
        shown = view.mapFromScene(view.sceneRect()).boundingRect()
        return (
            port.rect().adjusted(-1, -1, 1, 1).contains(shown) and shown.height() >= port.height() - 4
        )  # fitInView keeps 2 px

    assert fits()
    view.show_file(Path("/pictures/other.png"), picture(512, 512))  # not of the batch: the strip goes
    assert not view.strip.isVisible() and view.strip.count() == 0 and fits()
