"""The compose widgets on their own: live previews, contact sheet, image caption, gallery badge."""

from __future__ import annotations

import gc
from dataclasses import dataclass
from pathlib import Path

import pytest
from PIL import Image
from PySide6.QtCore import QModelIndex, QObject, QPoint, QRect, Qt, Signal
from PySide6.QtGui import QColor, QImage, QPainter, QPixmap
from PySide6.QtWidgets import QStyleOptionViewItem

from wuerstchen_desktop.core.jobs.job import Preview
from wuerstchen_desktop.ui.contact_sheet import ContactSheet
from wuerstchen_desktop.ui.gallery import ITEM_ROLE, GalleryModel, ThumbnailDelegate
from wuerstchen_desktop.ui.image_view import ImageView
from wuerstchen_desktop.ui.preview_sheet import GAP, MAX_TILE, MIN_TILE, preview_images, preview_sheet


@dataclass(frozen=True)
class FakeItem:
    id: int
    path: Path
    seed: int
    prompt: str = "a lighthouse"
    width: int = 512
    height: int = 512
    kind: str = "composition"
    favourite: bool = False
    has_latent: bool = True


RED, GREEN, BLUE = (220, 30, 40), (20, 200, 60), (30, 60, 230)


def solid(colour: tuple[int, int, int], w: int = 8, h: int = 8) -> bytes:
    return bytes(colour) * (w * h)


def preview_of(*colours: tuple[int, int, int], seeds=None, w: int = 8, h: int = 8, **kw) -> Preview:
    seeds = tuple(seeds) if seeds is not None else tuple(range(100, 100 + len(colours)))
    fields = {"job_id": 1, "step": 3, "total": 10, "approximate": False} | kw
    return Preview(width=w, height=h, images=tuple(solid(c, w, h) for c in colours), seeds=seeds, **fields)


def rgb(color: QColor) -> tuple[int, int, int]:
    return (color.red(), color.green(), color.blue())


def near(a: tuple[int, int, int], b: tuple[int, int, int], tolerance: int = 3) -> bool:
    return all(abs(x - y) <= tolerance for x, y in zip(a, b, strict=True))


def centre_of_image(tile) -> tuple[int, int, int]:
    shot = tile.grab().toImage()
    centre = tile.image_rect().center()
    ratio = shot.devicePixelRatio()
    return rgb(shot.pixelColor(round(centre.x() * ratio), round(centre.y() * ratio)))


def write_png(path: Path, colour: tuple[int, int, int], size: tuple[int, int] = (24, 24)) -> Path:
    Image.new("RGB", size, colour).save(path)
    return path


@pytest.fixture
def sheet(qtbot):
    widget = ContactSheet()
    qtbot.addWidget(widget)
    widget.resize(700, 500)
    widget.show()
    qtbot.waitExposed(widget)
    return widget


def ready_sheet(sheet, tmp_path: Path, count: int = 3) -> list[FakeItem]:
    colours = (RED, GREEN, BLUE, (200, 200, 20))
    seeds = [40 + i for i in range(count)]
    sheet.begin(count, seeds, 512, 512)
    items = [
        FakeItem(i + 1, write_png(tmp_path / f"c{i}.png", colours[i % 4]), seed)
        for i, seed in enumerate(seeds)
    ]
    for item in items:
        sheet.add_composition(item)
    return items


# -- previews -----------------------------------------------------------------------------------------------
def test_preview_images_round_trip_bytes_to_pixels_exactly(qapp) -> None:
    w, h = 3, 2
    data = bytearray(range(w * h * 3))  # every byte distinct, so a wrong stride or channel order shows
    preview = Preview(1, 1, 4, w, h, (bytes(data),), (7,), approximate=False)
    images = preview_images(preview)
    del preview, data
    gc.collect()
    assert len(images) == 1
    image = images[0]
    assert (image.width(), image.height()) == (w, h)
    for y in range(h):
        for x in range(w):
            offset = (y * w + x) * 3
            assert rgb(image.pixelColor(x, y)) == (offset, offset + 1, offset + 2)


def test_preview_images_with_a_short_buffer_gives_a_null_image_in_its_place(qapp) -> None:
    preview = Preview(1, 1, 4, 4, 4, (solid(RED, 4, 4), b"\x00" * 5), (1, 2), approximate=False)
    images = preview_images(preview)
    assert not images[0].isNull()
    assert images[1].isNull()


@pytest.mark.parametrize(("count", "cols", "rows"), [(1, 1, 1), (2, 2, 1), (4, 2, 2), (5, 3, 2)])
def test_preview_sheet_lays_images_out_in_a_near_square_grid(qapp, count, cols, rows) -> None:
    colours = [RED, GREEN, BLUE, (250, 250, 250), (10, 10, 10)][:count]
    sheet = preview_sheet(preview_of(*colours), 64)
    assert (sheet.width(), sheet.height()) == (cols * 64 + (cols - 1) * GAP, rows * 64 + (rows - 1) * GAP)
    image = sheet.toImage()
    assert near(rgb(image.pixelColor(32, 32)), RED)
    if count >= 2:
        assert near(rgb(image.pixelColor(64 + GAP + 32, 32)), GREEN)


def test_preview_sheet_keeps_the_aspect_ratio_and_the_device_pixel_ratio(qapp) -> None:
    sheet = preview_sheet(preview_of(RED, GREEN, w=16, h=8), 64, ratio=2.0)
    assert sheet.devicePixelRatio() == 2.0
    assert (sheet.width(), sheet.height()) == (2 * (2 * 64 + GAP), 2 * 32)


# -- contact sheet ------------------------------------------------------------------------------------------
def test_empty_sheet_shows_the_help_text(sheet) -> None:
    assert sheet.help.isVisible()
    assert "pick the ones to decode" in sheet.help.text()
    assert not sheet.decode_button.isEnabled()
    assert not sheet.blend_button.isEnabled()


def test_begin_shows_waiting_tiles_labelled_with_their_seeds(sheet) -> None:
    sheet.begin(4, [10, 11, 12, 13], 1024, 768)
    assert [t.seed for t in sheet.tiles] == [10, 11, 12, 13]
    assert all(t.state == "waiting" and not t.isCheckable() for t in sheet.tiles)
    assert not sheet.help.isVisible()
    assert "10" in sheet.tiles[0].accessibleName()
    image = sheet.tiles[0].image_rect()
    assert image.width() / image.height() == pytest.approx(1024 / 768, rel=0.03)


def test_show_preview_fills_the_tiles_live(sheet) -> None:
    sheet.begin(2, [100, 101], 512, 512)
    sheet.show_preview(preview_of(RED, GREEN))
    first, second = sheet.tiles
    assert first.state == "preview"
    assert rgb(first.image.pixelColor(0, 0)) == RED
    assert near(centre_of_image(first), RED)
    assert near(centre_of_image(second), GREEN)
    assert "step 3/10" in sheet.status.text()
    sheet.show_preview(preview_of(BLUE, RED, step=4, approximate=True))
    assert near(centre_of_image(first), BLUE)
    assert first.approximate
    assert "Approximate" in sheet.status.text()
    assert "step 4/10" in sheet.status.text()


def test_show_preview_ignores_another_job_when_the_job_is_known(sheet) -> None:
    sheet.begin(1, [100], 512, 512, job_id=7)
    sheet.show_preview(preview_of(RED, job_id=8))
    assert sheet.tiles[0].state == "waiting"
    sheet.show_preview(preview_of(RED, job_id=7))
    assert sheet.tiles[0].state == "preview"


def test_add_composition_shows_the_saved_file_and_makes_the_tile_selectable(sheet, tmp_path: Path) -> None:
    sheet.begin(2, [40, 41], 512, 512)
    sheet.show_preview(preview_of(RED, RED, seeds=(40, 41)))
    item = FakeItem(1, write_png(tmp_path / "c.png", GREEN), 41)
    sheet.add_composition(item)
    waiting, saved = sheet.tiles
    assert saved.item is item and saved.state == "ready" and saved.isCheckable()
    assert near(centre_of_image(saved), GREEN)
    assert waiting.state == "preview" and not waiting.isCheckable()
    sheet.show_preview(preview_of(BLUE, BLUE, seeds=(40, 41)))  # a late preview keeps the saved file
    assert near(centre_of_image(saved), GREEN)
    assert "1 of 2" in sheet.status.text()


@pytest.mark.parametrize("content", [b"\x89PNG\r\n\x1a\n broken", None])
def test_a_broken_or_missing_file_shows_a_placeholder(sheet, tmp_path: Path, content) -> None:
    path = tmp_path / "broken.png"
    if content is not None:
        path.write_bytes(content)
    sheet.begin(1, [5], 512, 512)
    sheet.add_composition(FakeItem(1, path, 5))
    tile = sheet.tiles[0]
    assert tile.state == "broken"
    assert not tile.isCheckable()
    assert "broken.png" in tile.toolTip()
    assert not tile.grab().isNull()


def test_set_items_shows_compositions_from_the_history(sheet, tmp_path: Path) -> None:
    items = [FakeItem(i, write_png(tmp_path / f"h{i}.png", RED), 70 + i) for i in range(3)]
    sheet.set_items(items)
    assert [t.item for t in sheet.tiles] == items
    assert all(t.isCheckable() for t in sheet.tiles)


def test_clicks_select_and_decode_emits_exactly_the_selected_items(qtbot, sheet, tmp_path: Path) -> None:
    items = ready_sheet(sheet, tmp_path)
    tiles = sheet.tiles
    qtbot.mouseClick(tiles[0], Qt.MouseButton.LeftButton)
    qtbot.mouseClick(tiles[2], Qt.MouseButton.LeftButton)
    assert [t.isChecked() for t in tiles] == [True, False, True]
    assert sheet.decode_button.isEnabled()
    assert "(2)" in sheet.decode_button.text()
    with qtbot.waitSignal(sheet.decode_requested) as asked:
        qtbot.mouseClick(sheet.decode_button, Qt.MouseButton.LeftButton)
    assert asked.args == [[items[0], items[2]]]
    qtbot.mouseClick(tiles[0], Qt.MouseButton.LeftButton)
    assert sheet.selected_items() == [items[2]]


def test_a_waiting_tile_cannot_be_selected(qtbot, sheet) -> None:
    sheet.begin(1, [3], 512, 512)
    qtbot.mouseClick(sheet.tiles[0], Qt.MouseButton.LeftButton)
    assert not sheet.tiles[0].isChecked()
    assert not sheet.decode_button.isEnabled()


def test_keyboard_moves_between_tiles_and_space_selects(qtbot, sheet, tmp_path: Path) -> None:
    sheet.resize(560, 600)  # two columns of tiles at most MAX_TILE wide
    items = ready_sheet(sheet, tmp_path, count=4)
    qtbot.waitUntil(lambda: sheet.grid.cols == 2)
    sheet.activateWindow()
    tiles = sheet.tiles
    tiles[0].setFocus()
    qtbot.waitUntil(tiles[0].hasFocus)
    qtbot.keyClick(tiles[0], Qt.Key.Key_Space)
    qtbot.keyClick(tiles[0], Qt.Key.Key_Down)
    assert tiles[2].hasFocus()
    qtbot.keyClick(tiles[2], Qt.Key.Key_Right)
    assert tiles[3].hasFocus()
    qtbot.keyClick(tiles[3], Qt.Key.Key_Space)
    qtbot.keyClick(tiles[3], Qt.Key.Key_Home)
    assert tiles[0].hasFocus()
    assert sheet.selected_items() == [items[0], items[3]]
    with qtbot.waitSignal(sheet.decode_requested) as asked:
        qtbot.keyClick(tiles[0], Qt.Key.Key_Return)
    assert asked.args == [[items[0]]]


def test_select_all(qtbot, sheet, tmp_path: Path) -> None:
    items = ready_sheet(sheet, tmp_path)
    qtbot.mouseClick(sheet.select_all_button, Qt.MouseButton.LeftButton)
    assert sheet.selected_items() == items
    assert not sheet.select_all_button.isEnabled()


def test_blend_needs_exactly_two_and_carries_the_slider_weight(qtbot, sheet, tmp_path: Path) -> None:
    items = ready_sheet(sheet, tmp_path)
    tiles = sheet.tiles
    qtbot.mouseClick(tiles[0], Qt.MouseButton.LeftButton)
    assert not sheet.blend_button.isEnabled()
    qtbot.mouseClick(tiles[1], Qt.MouseButton.LeftButton)
    assert sheet.blend_button.isEnabled()
    qtbot.mouseClick(tiles[2], Qt.MouseButton.LeftButton)
    assert not sheet.blend_button.isEnabled()
    qtbot.mouseClick(tiles[0], Qt.MouseButton.LeftButton)
    assert sheet.blend_button.isEnabled()
    qtbot.mouseClick(sheet.blend_button, Qt.MouseButton.LeftButton)
    assert sheet.blend_panel.isVisible()
    sheet.blend_slider.setValue(30)
    hint = sheet.blend_hint.pixmap().toImage()
    mixed = rgb(hint.pixelColor(hint.width() // 2, hint.height() // 2))
    assert near(mixed, tuple(round(0.7 * g + 0.3 * b) for g, b in zip(GREEN, BLUE, strict=True)), 4)
    with qtbot.waitSignal(sheet.blend_requested) as asked:
        qtbot.mouseClick(sheet.blend_decode, Qt.MouseButton.LeftButton)
    assert asked.args == [items[1], items[2], pytest.approx(0.3)]
    qtbot.mouseClick(tiles[1], Qt.MouseButton.LeftButton)  # one left: the blend panel goes
    assert not sheet.blend_panel.isVisible()


def test_double_click_decodes_just_that_tile(qtbot, sheet, tmp_path: Path) -> None:
    items = ready_sheet(sheet, tmp_path)
    with qtbot.waitSignal(sheet.decode_requested) as asked:
        qtbot.mouseDClick(sheet.tiles[1], Qt.MouseButton.LeftButton)
    assert asked.args == [[items[1]]]


def test_compose_again(qtbot, sheet, tmp_path: Path) -> None:
    ready_sheet(sheet, tmp_path)
    with qtbot.waitSignal(sheet.compose_again_requested):
        qtbot.mouseClick(sheet.compose_again_button, Qt.MouseButton.LeftButton)


def visible_in_the_sheet(sheet, tile) -> bool:
    viewport = sheet.scroller.viewport()
    return viewport.rect().contains(QRect(tile.mapTo(viewport, QPoint(0, 0)), tile.size()))


def test_tiles_grow_to_show_the_whole_batch_up_to_the_largest_size(qtbot, sheet) -> None:
    sheet.begin(6, list(range(6)), 512, 512)
    sheet.resize(520, 500)
    qtbot.waitUntil(lambda: all(visible_in_the_sheet(sheet, t) for t in sheet.tiles))
    assert sheet.grid.cols == 3
    assert 140 < sheet.tiles[0].width() <= MAX_TILE
    sheet.resize(2400, 500)
    qtbot.waitUntil(lambda: sheet.grid.cols == 6)
    assert sheet.tiles[0].width() == MAX_TILE
    assert all(visible_in_the_sheet(sheet, t) for t in sheet.tiles)


def test_a_batch_too_large_for_the_view_scrolls(qtbot, sheet) -> None:
    sheet.begin(16, list(range(16)), 512, 512)
    sheet.resize(420, 300)
    qtbot.waitUntil(lambda: sheet.grid.height() > sheet.scroller.viewport().height())
    assert all(MIN_TILE <= t.width() <= MAX_TILE for t in sheet.tiles)
    assert not visible_in_the_sheet(sheet, sheet.tiles[-1])


# -- image view caption -------------------------------------------------------------------------------------
def test_image_view_caption_shows_and_hides(qtbot) -> None:
    view = ImageView()
    qtbot.addWidget(view)
    view.resize(400, 300)
    view.show()
    view.set_caption("Preview · step 12/29")
    assert view.caption() == "Preview · step 12/29"
    label = view._caption
    assert label.isVisible()
    assert view.viewport().geometry().contains(label.geometry())
    assert label.geometry().left() < 30 and label.geometry().bottom() > 250  # bottom left
    pixmap = QPixmap(32, 32)
    pixmap.fill(QColor(*RED))
    view.set_pixmap(pixmap)
    assert view.caption() == "Preview · step 12/29"  # a new picture keeps the caption
    long = "Approximate preview (layout only, not colours) · step 12/29"
    view.set_caption(long)
    assert label.height() < 2 * label.fontMetrics().height()  # one line where it fits
    view.resize(160, 300)
    qtbot.waitUntil(lambda: label.height() > 2 * label.fontMetrics().height())  # wrapped, not clipped
    assert view.viewport().geometry().contains(label.geometry())
    view.set_caption("")
    assert not label.isVisible()
    assert view.caption() == ""


# -- gallery ------------------------------------------------------------------------------------------------
class _Worker(QObject):
    page = Signal(int, list)
    thumbnail_ready = Signal(int, int, bytes)


class _History:
    def __init__(self) -> None:
        self.worker = _Worker()

    def thumbnail(self, *args) -> None:
        pass

    def next_request(self) -> int:
        return 1

    def list_page(self, *args) -> None:
        pass


def test_gallery_marks_compositions(qapp, tmp_path: Path) -> None:
    model = GalleryModel(_History())  # type: ignore[arg-type]
    model.items = [FakeItem(1, tmp_path / "a.png", 1), FakeItem(2, tmp_path / "b.png", 2, kind="image")]
    composition, image = model.index(0), model.index(1)
    assert "Composition (not decoded yet)" in composition.data(Qt.ItemDataRole.ToolTipRole)
    assert "a lighthouse" in composition.data(Qt.ItemDataRole.ToolTipRole)
    assert "Composition" not in image.data(Qt.ItemDataRole.ToolTipRole)

    def paint(index: QModelIndex) -> QImage:
        canvas = QImage(168, 168, QImage.Format.Format_RGB32)
        canvas.fill(QColor(255, 255, 255))
        option = QStyleOptionViewItem()
        option.rect = QRect(0, 0, 168, 168)
        painter = QPainter(canvas)
        ThumbnailDelegate().paint(painter, option, index)
        painter.end()
        return canvas

    assert index_item(composition).kind == "composition"
    corner = QPoint(14, 168 - 14)  # inside the pill at the bottom left
    assert rgb(paint(composition).pixelColor(corner)) != rgb(paint(image).pixelColor(corner))


def index_item(index: QModelIndex):
    return index.data(ITEM_ROLE)
