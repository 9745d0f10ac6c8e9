"""The image view and the history through the real window (real worker thread, tiny checkpoints): a batch's
strip, the view's menu (Vary), the kind and favourites filters, searches without results, undo in place,
and a decoded composition's link on the contact sheet."""

from __future__ import annotations

import hashlib

from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QPixmap

from tests.helpers.window import WAIT_MS, compose_and_wait, drop_on, fast, generate_and_wait
from wuerstchen_desktop.core.imagefile.read import read_record


def test_a_batch_shows_all_its_images_and_a_click_shows_one(qtbot, make_window) -> None:
    window = make_window()
    fast(window, prompt="a kite", seed=40, images=4)
    with qtbot.waitSignal(window.service.job_finished, timeout=WAIT_MS) as done:
        window.generate()
    paths = list(done.args[0].paths)
    view = window.view
    assert len(paths) == 4 and view.strip.isVisible() and view.strip.paths() == paths
    assert view.path == paths[-1] and view.strip.currentRow() == 3
    qtbot.waitUntil(lambda: len(view.strip.ids) == 4, timeout=WAIT_MS)  # the history listed them all
    qtbot.waitUntil(lambda: "seed 43" in view.info_text(), timeout=WAIT_MS)
    assert view.info_text().startswith(paths[-1].name + " · 256 × 256 px")

    first = view.strip.visualItemRect(view.strip.item(0)).center()
    qtbot.mouseClick(view.strip.viewport(), Qt.MouseButton.LeftButton, pos=first)
    assert view.path == paths[0] and window.shown == paths[0]
    assert "seed 40" in view.info_text() and view.strip.isVisible()

    # An image from outside the batch: the strip goes.
    fast(window, prompt="a single kite", seed=50)
    generate_and_wait(qtbot, window, 5)
    assert not view.strip.isVisible() and view.strip.count() == 0


def test_vary_from_the_image_view_starts_from_the_shown_file(qtbot, make_window) -> None:
    from wuerstchen_desktop.ui.compose_flow import VARY_STRONG, VARY_SUBTLE

    window = make_window()
    fast(window, prompt="a boat", seed=12, steps=2)
    generate_and_wait(qtbot, window, 1)
    shown = window.view.path
    assert shown is not None and window.view.has_image()
    qtbot.waitUntil(lambda: window.view.item() is not None, timeout=WAIT_MS)
    sha = hashlib.sha256(shown.read_bytes()).hexdigest()
    for label, strength in (("Vary (subtle)", VARY_SUBTLE), ("Vary (strong)", VARY_STRONG)):
        window.show_image(shown)  # the variation before is shown now: back to the original
        actions = {a.text(): a for a in window.gallery_actions.image_menu().actions()}
        assert all(actions[t].isEnabled() for t in ("Vary (subtle)", "Vary (strong)", "Copy image"))
        with qtbot.waitSignal(window.service.job_finished, timeout=WAIT_MS) as done:
            actions[label].trigger()
        (made,) = done.args[0].paths
        record = read_record(made)
        assert (record.params.strength, record.params.source) == (strength, sha)
        assert record.params.prompt == "a boat" and record.params.seed != 12
    assert (VARY_SUBTLE, VARY_STRONG) == (0.5, 0.85)

    window.view.set_pixmap(QPixmap(64, 64))  # a live preview is not a file: nothing to vary or copy
    actions = {a.text(): a for a in window.gallery_actions.image_menu().actions()}
    assert not any(actions[t].isEnabled() for t in ("Vary (subtle)", "Vary (strong)", "Show in folder"))


def test_the_view_menu_opens_on_a_right_click(qtbot, make_window) -> None:
    window = make_window()
    fast(window)
    generate_and_wait(qtbot, window, 1)
    with qtbot.waitSignal(window.view.menu_requested, timeout=WAIT_MS) as asked:
        window.view.menu_requested.disconnect(window.gallery_actions.view_menu)  # no modal menu in a test
        centre = window.view.viewport().rect().center()
        from PySide6.QtGui import QContextMenuEvent
        from PySide6.QtWidgets import QApplication

        event = QContextMenuEvent(
            QContextMenuEvent.Reason.Mouse, centre, window.view.viewport().mapToGlobal(centre)
        )
        QApplication.sendEvent(window.view.viewport(), event)
    assert asked.args[0] == window.view.viewport().mapToGlobal(centre)


def test_filter_images_compositions_and_favourites(qtbot, make_window) -> None:
    window = make_window()
    fast(window, prompt="a red fox", seed=3)
    generate_and_wait(qtbot, window, 1)
    compose_and_wait(qtbot, window, "a red fox composed", seed=60, count=2)
    gallery = window.gallery
    qtbot.waitUntil(lambda: gallery.count() == 3, timeout=WAIT_MS)
    assert [gallery.kind.itemText(i) for i in range(3)] == ["All", "Images", "Compositions"]

    gallery.kind.setCurrentIndex(1)
    qtbot.waitUntil(lambda: gallery.count() == 1 and gallery.model.exhausted, timeout=WAIT_MS)
    assert gallery.item_at(0).kind == "image"
    gallery.kind.setCurrentIndex(2)
    qtbot.waitUntil(lambda: gallery.count() == 2 and gallery.model.exhausted, timeout=WAIT_MS)
    assert {gallery.item_at(i).kind for i in range(2)} == {"composition"}

    # A new image does not slip into the compositions-only list.
    fast(window, prompt="a blue fox", seed=4)
    with qtbot.waitSignal(window.service.job_finished, timeout=WAIT_MS):
        window.generate()
    qtbot.waitUntil(lambda: getattr(window.view.item(), "prompt", "") == "a blue fox", timeout=WAIT_MS)
    assert gallery.count() == 2  # the history has listed it (the view knows its item) and left it out

    assert gallery.favourites.text() == "Favourites"
    gallery.favourites.setChecked(True)
    qtbot.waitUntil(lambda: gallery.count() == 0 and gallery.empty.isVisible(), timeout=WAIT_MS)
    assert gallery.empty.text().startswith("No favourite compositions yet")
    gallery.kind.setCurrentIndex(0)
    gallery.favourites.setChecked(False)
    qtbot.waitUntil(lambda: gallery.count() == 4 and not gallery.empty.isVisible(), timeout=WAIT_MS)


def test_a_search_without_results_says_so(qtbot, make_window) -> None:
    window = make_window()
    fast(window, prompt="a cat")
    generate_and_wait(qtbot, window, 1)
    gallery = window.gallery
    gallery.search.setText("zebra")
    qtbot.waitUntil(lambda: gallery.count() == 0 and gallery.empty.isVisible(), timeout=WAIT_MS)
    assert (
        gallery.empty.text()
        == "No images and compositions match “zebra”. Try other words or clear the search."
    )
    gallery.search.setText("cat")
    qtbot.waitUntil(lambda: gallery.count() == 1 and not gallery.empty.isVisible(), timeout=WAIT_MS)


def test_undo_puts_a_deleted_image_back_where_it_was(qtbot, make_window) -> None:
    window = make_window()
    for seed in (1, 2, 3):
        fast(window, prompt=f"a hill {seed}", seed=seed)
        generate_and_wait(qtbot, window, seed)
    gallery = window.gallery
    before = [gallery.item_at(i).path for i in range(3)]
    middle = gallery.item_at(1)
    gallery.select_row(1)
    gallery.view.setFocus()
    qtbot.keyClick(gallery.view, Qt.Key.Key_Delete)
    qtbot.waitUntil(lambda: gallery.count() == 2, timeout=WAIT_MS)
    qtbot.keyClick(window, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: gallery.count() == 3, timeout=WAIT_MS)
    assert [gallery.item_at(i).path for i in range(3)] == before
    assert gallery.item_at(1).prompt == middle.prompt


def test_a_decoded_composition_is_marked_and_links_to_its_image(qtbot, make_window) -> None:
    window = make_window()
    sheet = compose_and_wait(qtbot, window, "a mill", seed=70, count=2)
    tile = next(t for t in sheet.tiles if t.item.seed == 71)
    other = next(t for t in sheet.tiles if t is not tile)
    tile.click()
    with qtbot.waitSignal(window.service.job_finished, timeout=WAIT_MS) as done:
        sheet.decode_button.click()
    (image,) = done.args[0].paths
    assert tile.decoded == image and other.decoded is None
    assert "decoded" in tile.accessibleName()
    window.center.setCurrentWidget(sheet)
    tile.repaint()  # the link is where it was last drawn
    assert not tile._link.isEmpty()
    checked = tile.isChecked()
    qtbot.mouseClick(tile, Qt.MouseButton.LeftButton, pos=tile._link.center())
    assert window.center.currentWidget() is window.view and window.view.path == image
    assert tile.isChecked() == checked  # following the link is not a selection click
    qtbot.mouseClick(tile, Qt.MouseButton.LeftButton, pos=QPoint(tile.width() // 2, 10))
    assert tile.isChecked() != checked


def test_an_image_dropped_on_the_empty_view_fills_the_panel(qtbot, make_window, tmp_path) -> None:
    from PIL import Image, PngImagePlugin
    from PySide6.QtCore import QMimeData, QUrl

    window = make_window()
    assert window.view.hint.isVisible() and "drop an image here" in window.view.hint.text()
    info = PngImagePlugin.PngInfo()
    info.add_text("parameters", "a lake at dawn\nSteps: 20, Seed: 9, Size: 512x512")
    path = tmp_path / "other-tool.png"
    Image.new("RGB", (64, 64)).save(path, pnginfo=info)
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(path))])
    assert drop_on(window.view.viewport(), mime)  # unhandled by the view, it goes up to the window
    qtbot.waitUntil(lambda: window.panel.prompt.toPlainText() == "a lake at dawn", timeout=WAIT_MS)


def test_a_composition_from_the_history_finds_its_image_after_a_restart(qtbot, make_window) -> None:
    window = make_window()
    sheet = compose_and_wait(qtbot, window, "a barn", seed=90, count=2)
    tile = next(t for t in sheet.tiles if t.item.seed == 90)
    tile.click()
    with qtbot.waitSignal(window.service.job_finished, timeout=WAIT_MS) as done:
        sheet.decode_button.click()
    (image,) = done.args[0].paths
    composition = tile.item.path
    qtbot.waitUntil(lambda: window.gallery.count() == 3, timeout=WAIT_MS)
    window.close()

    again = make_window()
    gallery = again.gallery
    qtbot.waitUntil(lambda: gallery.count() == 3, timeout=WAIT_MS)
    for item in [gallery.item_at(i) for i in range(3)]:
        if item.kind == "composition":
            again.flow.add_to_sheet(item)
    tiles = {t.item.path: t for t in again.flow.sheet.tiles}
    qtbot.waitUntil(lambda: tiles[composition].decoded == image, timeout=WAIT_MS)
    assert all(t.decoded is None for p, t in tiles.items() if p != composition)  # the other was never decoded
