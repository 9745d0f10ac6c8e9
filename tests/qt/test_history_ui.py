"""The gallery over the history: reuse, vary detail, delete with undo, favourites, search, drops."""

from __future__ import annotations

from pathlib import Path

from PIL import Image, PngImagePlugin
from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDropEvent, QGuiApplication

from tests.helpers.window import WAIT_MS, fast, generate_and_wait
from wuerstchen_desktop.core.imagefile.read import read_parameters


def drop(window, mime: QMimeData) -> None:
    event = QDropEvent(
        QPointF(10, 10),
        Qt.DropAction.CopyAction,
        mime,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )
    window.dropEvent(event)


def test_dropping_our_image_restores_every_setting(qtbot, make_window) -> None:
    window = make_window()
    fast(window, prompt="a red horse", seed=77, steps=3)
    window.panel.negative.setPlainText("blue")
    with qtbot.waitSignal(window.service.job_finished, timeout=WAIT_MS) as done:
        window.generate()
    made = read_parameters(done.args[0].paths[0]).record.params
    fast(window, prompt="something else", seed=1)
    window.panel.random_seed.setChecked(True)
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(done.args[0].paths[0]))])
    drop(window, mime)
    qtbot.waitUntil(lambda: window.panel.prompt.toPlainText() == "a red horse", timeout=WAIT_MS)
    assert not window.panel.random_seed.isChecked()
    assert window.panel.params() == made


def test_dropping_another_tools_image_says_what_was_not_carried(qtbot, make_window, tmp_path: Path) -> None:
    window = make_window()
    info = PngImagePlugin.PngInfo()
    info.add_text(
        "parameters",
        "a castle\nNegative prompt: fog\nSteps: 20, Sampler: Euler a, CFG scale: 7, "
        "Seed: 42, Size: 512x700, Model: sd15",
    )
    path = tmp_path / "other.png"
    Image.new("RGB", (8, 8)).save(path, pnginfo=info)
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(path))])
    drop(window, mime)
    qtbot.waitUntil(lambda: window.panel.prompt.toPlainText() == "a castle", timeout=WAIT_MS)
    assert window.panel.negative.toPlainText() == "fog"
    assert window.panel.seed.text() == "42"
    assert window.panel.note_label.isVisible()
    assert "512×700" in window.panel.note_label.text() and "20 steps" in window.panel.note_label.text()


def test_dropping_a_broken_file_is_a_clear_message(qtbot, make_window, tmp_path: Path) -> None:
    window = make_window()
    fast(window, prompt="keep me")
    path = tmp_path / "broken.png"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 20)
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(path))])
    drop(window, mime)
    qtbot.waitUntil(lambda: "broken.png" in window.statusBar().currentMessage(), timeout=WAIT_MS)
    assert window.panel.prompt.toPlainText() == "keep me"


def test_pasting_parameters_text(qtbot, make_window) -> None:
    window = make_window()
    QGuiApplication.clipboard().setText(
        "a lighthouse\nNegative prompt: rain\nSteps: 12, Seed: 5, Size: 768x512"
    )
    window.gallery_actions.paste_parameters()
    qtbot.waitUntil(lambda: window.panel.prompt.toPlainText() == "a lighthouse", timeout=WAIT_MS)
    assert (window.panel.width_box.value(), window.panel.height_box.value()) == (768, 512)


def test_vary_detail_decodes_the_stored_composition_again(qtbot, make_window) -> None:
    window = make_window()
    fast(window, prompt="a dog", seed=3, steps=3)
    generate_and_wait(qtbot, window, 1)
    first = window.gallery.item_at(0)
    assert first.has_latent
    prior_steps: list[int] = []
    window.service.progress.connect(lambda *a: prior_steps.append(a[2]) if a[1] == "prior" else None)
    with qtbot.waitSignal(window.service.job_finished, timeout=WAIT_MS) as done:
        window.vary_detail(first)
    assert prior_steps == []  # no Stage C
    varied = read_parameters(done.args[0].paths[0]).record
    assert varied.params.seed == 3 and varied.params.decoder_seed is not None
    assert varied.latent == read_parameters(first.path).record.latent
    qtbot.waitUntil(lambda: window.gallery.count() == 2, timeout=WAIT_MS)


def test_delete_and_undo(qtbot, make_window) -> None:
    window = make_window()
    fast(window)
    generate_and_wait(qtbot, window, 1)
    item = window.gallery.item_at(0)
    window.gallery.select_row(0)
    window.gallery.view.setFocus()
    qtbot.keyClick(window.gallery.view, Qt.Key.Key_Delete)
    qtbot.waitUntil(lambda: window.gallery.count() == 0, timeout=WAIT_MS)
    assert not item.path.exists()
    qtbot.keyClick(window, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: window.gallery.count() == 1, timeout=WAIT_MS)
    assert item.path.exists()


def test_favourites_search_and_restart(qtbot, make_window) -> None:
    window = make_window()
    for prompt, seed in (("a cat", 1), ("a dog", 2)):
        fast(window, prompt=prompt, seed=seed)
        generate_and_wait(qtbot, window, seed)
    dog = window.gallery.item_at(0)
    window.history.set_favourite(dog.id, True)
    qtbot.waitUntil(lambda: window.gallery.item_at(0).favourite, timeout=WAIT_MS)
    window.gallery.search.setText("cat")
    qtbot.waitUntil(lambda: window.gallery.count() == 1 and window.gallery.item_at(0).prompt == "a cat")
    window.gallery.search.setText("")
    window.gallery.favourites.setChecked(True)
    qtbot.waitUntil(lambda: window.gallery.count() == 1 and window.gallery.item_at(0).prompt == "a dog")
    window.close()
    # A new window on the same folder lists both, newest first, the favourite kept.
    again = make_window()
    qtbot.waitUntil(lambda: again.gallery.count() == 2, timeout=WAIT_MS)
    assert [again.gallery.item_at(i).prompt for i in range(2)] == ["a dog", "a cat"]
    assert again.gallery.item_at(0).favourite


def test_export_without_metadata(qtbot, make_window, tmp_path: Path) -> None:
    from wuerstchen_desktop.core.errors import NoParametersFound

    window = make_window()
    fast(window)
    generate_and_wait(qtbot, window, 1)
    window.gallery_actions.export_clean(window.gallery.item_at(0), tmp_path / "share")
    # Waits on the window, not on the worker's signal: a waitSignal blocker would run on the worker's thread.
    qtbot.waitUntil(lambda: "Exported" in window.statusBar().currentMessage(), timeout=WAIT_MS)
    (shared,) = (tmp_path / "share").iterdir()
    assert str(shared) in window.statusBar().currentMessage()
    try:
        read_parameters(shared)
        raise AssertionError("the shared copy still carries parameters")
    except NoParametersFound:
        pass
