"""Compose first, decode later, through the real window: a real worker thread, tiny checkpoints."""

from __future__ import annotations

from tests.helpers.disk import full_disk_after
from tests.helpers.window import WAIT_MS, compose_and_wait, fast, generate_and_wait
from wuerstchen_desktop.core.imagefile.read import read_record


def cancel_at_first_step(window) -> None:
    """Cancel the running job from the worker thread itself, right after its first prior step, so the
    cancel cannot arrive after the (tiny, fast) job has finished."""
    from PySide6.QtCore import Qt

    worker = window.service._worker
    worker.preview.connect(lambda _p: window.service.cancel_current(), Qt.ConnectionType.DirectConnection)


def test_live_previews_at_every_prior_step(qtbot, make_window) -> None:
    window = make_window()
    fast(window, prompt="a fox", seed=4, images=2, steps=3)
    previews: list = []
    window.service.preview.connect(previews.append)
    generate_and_wait(qtbot, window, 2)
    assert [p.step for p in previews] == [1, 2, 3] and all(p.total == 3 for p in previews)
    last = previews[-1]
    assert last.seeds == (4, 5) and len(last.images) == 2
    assert (last.width, last.height) == (24, 24)  # 4x the 6x6 Stage C latent of a 256x256 image
    assert all(len(buf) == 24 * 24 * 3 for buf in last.images)
    assert last.approximate  # no previewer network in this test's cache
    # While it ran, the image view showed the previews with an honest caption; the image replaced them.
    assert window.view.caption() == ""


def test_compose_fills_the_contact_sheet_and_decodes_the_pick(qtbot, make_window) -> None:
    window = make_window()
    fast(window, prompt="a lighthouse", seed=20, steps=2)
    window.panel.random_seed.setChecked(False)
    window.panel.compose_count.setValue(3)
    sheet = window.flow.sheet
    with qtbot.waitSignal(window.service.job_finished, timeout=WAIT_MS) as done:
        window.panel.compose_button.click()
    assert window.center.currentWidget() is sheet
    result = done.args[0]
    assert result.kind == "compose" and len(result.paths) == 3
    qtbot.waitUntil(lambda: all(t.item is not None for t in sheet.tiles), timeout=WAIT_MS)
    assert sorted(t.item.seed for t in sheet.tiles) == [20, 21, 22]
    assert all(t.item.kind == "composition" for t in sheet.tiles)
    qtbot.waitUntil(lambda: window.gallery.count() == 3, timeout=WAIT_MS)
    # Compositions never replace the image in the view.
    assert not window.view.has_image()

    pick = next(t for t in sheet.tiles if t.item.seed == 21)
    pick.click()
    assert sheet.selected_items() == [pick.item]
    with qtbot.waitSignal(window.service.job_finished, timeout=WAIT_MS) as decoded:
        sheet.decode_button.click()
    (image,) = decoded.args[0].paths
    record = read_record(image)
    assert record.kind == "image" and record.params.seed == 21 and record.params.decoder_seed == 21
    assert record.latent == read_record(pick.item.path).latent
    qtbot.waitUntil(lambda: window.gallery.count() == 4, timeout=WAIT_MS)
    assert window.center.currentWidget() is window.view and window.view.has_image()


def test_blend_two_compositions_from_the_sheet(qtbot, make_window) -> None:
    window = make_window()
    sheet = compose_and_wait(qtbot, window, "a boat", seed=30)
    sheet.select_all()
    assert sheet.blend_button.isEnabled()
    sheet.blend_button.setChecked(True)
    sheet.blend_slider.setValue(30)
    with qtbot.waitSignal(window.service.job_finished, timeout=WAIT_MS) as done:
        sheet.blend_decode.click()
    record = read_record(done.args[0].paths[0])
    assert record.blend is not None and record.blend.weight == 0.3
    assert {record.params.seed, record.blend.other.seed} == {30, 31}


def test_vary_composition_and_more_steps_from_the_gallery(qtbot, make_window) -> None:
    window = make_window()
    fast(window, prompt="a tree", seed=8, steps=2)
    generate_and_wait(qtbot, window, 1)
    item = window.gallery.item_at(0)
    with qtbot.waitSignal(window.service.job_finished, timeout=WAIT_MS) as done:
        window.flow.vary_composition(item)
    varied = read_record(done.args[0].paths[0])
    assert varied.params.seed != 8 and varied.params.prompt == "a tree" and varied.kind == "image"
    with qtbot.waitSignal(window.service.job_finished, timeout=WAIT_MS) as done:
        window.flow.decode_with_steps(item, 3)
    more = read_record(done.args[0].paths[0])
    assert more.params.decoder_steps == 3 and more.params.seed == 8
    assert more.latent == read_record(item.path).latent


def test_decoding_a_foreign_file_fails_clearly_and_the_window_carries_on(
    qtbot, make_window, tmp_path
) -> None:
    from PIL import Image

    window = make_window()
    foreign = tmp_path / "photo.png"
    Image.new("RGB", (32, 32), "blue").save(foreign)

    class FakeItem:  # a history item pointing at a file without our parameters
        path = foreign
        seed = 1

    with qtbot.waitSignal(window.service.job_failed, timeout=WAIT_MS) as failed:
        window.flow.decode([FakeItem()])
    assert "parameters" in failed.args[0].message.lower()
    fast(window)
    generate_and_wait(qtbot, window, 1)


def test_cancelling_a_compose_clears_the_waiting_tiles(qtbot, make_window) -> None:
    window = make_window()
    fast(window, prompt="a castle", seed=50, steps=3)
    window.panel.compose_count.setValue(2)
    sheet = window.flow.sheet
    cancel_at_first_step(window)
    with qtbot.waitSignal(window.service.job_cancelled, timeout=WAIT_MS):
        window.flow.compose()
    assert sheet.tiles == []
    assert sheet.status.text() == "Compose cancelled."
    assert window.gallery.count() == 0


def test_decoding_several_keeps_the_sheet_in_front_until_the_last(qtbot, make_window) -> None:
    window = make_window()
    sheet = compose_and_wait(qtbot, window, "a bridge", seed=60)
    sheet.select_all()
    in_front: list = []
    window.service.job_finished.connect(lambda _r: in_front.append(window.center.currentWidget()))
    sheet.decode_button.click()
    qtbot.waitUntil(lambda: len(in_front) == 2, timeout=WAIT_MS)
    assert in_front == [sheet, window.view]  # the first result waits behind; the last one is shown
    assert window.view.has_image()


def test_a_cancelled_generate_leaves_no_preview_behind(qtbot, make_window) -> None:
    window = make_window()
    fast(window, prompt="a first image", seed=1)
    generate_and_wait(qtbot, window, 1)
    first = window.view.pixmap().toImage()
    fast(window, prompt="a second image", seed=2, steps=3)
    cancel_at_first_step(window)
    with qtbot.waitSignal(window.service.job_cancelled, timeout=WAIT_MS):
        window.generate()
    assert window.view.caption() == ""
    assert window.view.pixmap().toImage() == first  # the last finished image is back, not the preview


def test_vary_composition_of_a_composition_is_a_batch_of_one(qtbot, make_window) -> None:
    window = make_window()
    sheet = compose_and_wait(qtbot, window, "a mill", seed=70)
    qtbot.waitUntil(lambda: window.gallery.count() == 2, timeout=WAIT_MS)
    item = window.gallery.item_at(0)
    with qtbot.waitSignal(window.service.job_finished, timeout=WAIT_MS) as done:
        window.flow.vary_composition(item)
    (path,) = done.args[0].paths
    assert [t.item.path for t in sheet.tiles] == [path]  # on the sheet at once, indexed or not
    record = read_record(path)
    assert record.kind == "composition" and record.params.seed != item.seed
    qtbot.waitUntil(lambda: sheet.tiles[0].item.id > 0, timeout=WAIT_MS)  # the history's item took over
    assert len(sheet.tiles) == 1


def test_approximate_previews_offer_the_preview_model(qtbot, make_window, hub, previewer_dir) -> None:
    window = make_window()
    fast(window, prompt="a lamp", seed=9, steps=2)
    generate_and_wait(qtbot, window, 1)
    assert window.previewer_button.isVisible()  # the previews so far were approximate
    window.previewer_button.click()
    dialog = window.first_run
    assert dialog is not None and not dialog.folder_button.isVisible()
    qtbot.waitUntil(dialog.download_button.isEnabled, timeout=WAIT_MS)
    assert "live preview model" in dialog.message.text()
    with qtbot.waitSignal(dialog.ready, timeout=WAIT_MS):
        dialog.download_button.click()
    previews: list = []
    window.service.preview.connect(previews.append)
    fast(window, prompt="a lamp", seed=10, steps=2)
    generate_and_wait(qtbot, window, 2)
    assert previews and not any(p.approximate for p in previews)  # the real network now
    assert all((p.width, p.height) == (24, 24) for p in previews)  # its 4x of the 6x6 latent
    assert not window.previewer_button.isVisible()
    assert list(previewer_dir.glob("previewer-*.safetensors"))


def test_a_full_disk_during_compose_keeps_the_saved_tiles(qtbot, make_window, monkeypatch) -> None:
    window = make_window()
    fast(window, prompt="a dune", seed=80, steps=2)
    window.panel.compose_count.setValue(3)
    sheet = window.flow.sheet
    full_disk_after(monkeypatch, saved=2)
    with qtbot.waitSignal(window.service.job_failed, timeout=WAIT_MS) as failed:
        window.flow.compose()
    assert len(failed.args[0].paths) == 2
    assert sorted(t.item.seed for t in sheet.tiles) == [80, 81]  # the third never existed: its tile went
    assert "Only 2 of 3 files were saved" in sheet.status.text()
    qtbot.waitUntil(lambda: window.gallery.count() == 2, timeout=WAIT_MS)


def test_vary_subtle_and_strong_start_from_the_image(qtbot, make_window) -> None:
    import hashlib

    from PySide6.QtWidgets import QMenu

    from wuerstchen_desktop.ui.compose_flow import VARY_STRONG, VARY_SUBTLE

    window = make_window()
    fast(window, prompt="a boat", seed=12, steps=2)
    generate_and_wait(qtbot, window, 1)
    item = window.gallery.item_at(0)
    menu = QMenu()
    window.flow.add_menu_actions(menu, item)
    labels = {a.text(): a for a in menu.actions()}
    assert labels["Vary (subtle)"].isEnabled() and labels["Vary (strong)"].isEnabled()
    sha = hashlib.sha256(item.path.read_bytes()).hexdigest()
    made = []
    for strength in (VARY_SUBTLE, VARY_STRONG):
        with qtbot.waitSignal(window.service.job_finished, timeout=WAIT_MS) as done:
            labels["Vary (subtle)" if strength == VARY_SUBTLE else "Vary (strong)"].trigger()
        record = read_record(done.args[0].paths[0])
        assert (record.params.strength, record.params.source) == (strength, sha)
        assert record.params.prompt == "a boat" and record.params.seed != 12
        made.append(record)
    original = read_record(item.path).latent  # a new composition, made from the original's
    assert original is not None and all(r.latent not in (None, original) for r in made)
