"""Starting from a picture in the window: the prompt panel's picture well (drop, paste, open, clear, the
strength slider) through the real window, a real worker thread and tiny checkpoints."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from PIL import Image

from tests.helpers.encoder import write_encoder_weights
from tests.helpers.window import WAIT_MS, drop_on, fast, generate_and_wait
from wuerstchen_desktop.core.imagefile.read import read_record


def drop(qtbot, widget, data) -> None:
    assert drop_on(widget, data)


def urls(*paths: Path):
    from PySide6.QtCore import QMimeData, QUrl

    data = QMimeData()
    data.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    return data


def made_image(qtbot, window, seed: int = 12) -> Path:
    fast(window, prompt="a boat", seed=seed, steps=2)
    generate_and_wait(qtbot, window, 1)
    return window.gallery.item_at(0).path


def generate_one(qtbot, window) -> Path:
    with qtbot.waitSignal(window.service.job_finished, timeout=WAIT_MS) as done:
        window.generate()
    (path,) = done.args[0].paths
    return path


def test_a_dropped_image_of_ours_starts_the_next_image_at_the_chosen_strength(qtbot, make_window) -> None:
    window = make_window()
    picture = made_image(qtbot, window)
    well = window.panel.picture
    assert well.start() == ((), None) and not well.clear_button.isVisible()
    fast(window, prompt="a boat at dusk", seed=40, steps=4)
    window.panel.set_size(384, 256)
    drop(qtbot, well, urls(picture))
    assert well.path == picture and well.ours
    assert (window.panel.width_box.value(), window.panel.height_box.value()) == (256, 256)  # its own size
    assert well.detail.text() == "256×256, made here\nImages from it: 256×256"
    assert well.clear_button.isVisible()
    well.strength.setValue(30)
    assert well.strength_label.text() == "Strength 0.30"
    made = read_record(generate_one(qtbot, window))
    assert made.params.strength == 0.3
    assert made.params.source == hashlib.sha256(picture.read_bytes()).hexdigest()
    assert made.params.prompt == "a boat at dusk" and made.params.seed == 40

    well.strength.setValue(100)  # strength 1 ignores the picture: text to image
    plain = read_record(generate_one(qtbot, window)).params
    assert (plain.strength, plain.source) == (1.0, None)
    well.strength.setValue(50)
    well.clear()
    assert well.path is None and well.start() == ((), None)
    plain = read_record(generate_one(qtbot, window)).params
    assert (plain.strength, plain.source) == (1.0, None)


def test_compose_from_a_picture_makes_compositions_from_it(qtbot, make_window) -> None:
    window = make_window()
    picture = made_image(qtbot, window)
    window.panel.picture.set_picture(picture)
    fast(window, prompt="a boat", seed=7, steps=4)
    window.panel.compose_count.setValue(2)
    with qtbot.waitSignal(window.service.job_finished, timeout=WAIT_MS) as done:
        window.panel.compose_button.click()
    sha = hashlib.sha256(picture.read_bytes()).hexdigest()
    records = [read_record(p) for p in done.args[0].paths]
    assert [(r.kind, r.params.strength, r.params.source) for r in records] == [("composition", 0.5, sha)] * 2


def test_a_picture_made_elsewhere_asks_for_the_encoder_then_goes_through_it(
    qtbot, make_window, tmp_path: Path, encoder_dir: Path, pictures_dir: Path
) -> None:
    from PySide6.QtGui import QGuiApplication, QImage

    window = make_window()
    fast(window, prompt="a red door", seed=3, steps=2)
    photo = tmp_path / "photo.png"
    Image.new("RGB", (600, 400), (200, 30, 30)).save(photo)
    QGuiApplication.clipboard().setImage(QImage(str(photo)))
    well = window.panel.picture
    assert well.paste()
    (kept,) = pictures_dir.iterdir()  # the pasted picture, kept under its sha256
    assert kept.stem == hashlib.sha256(kept.read_bytes()).hexdigest()
    assert well.path == kept and not well.ours and "600×400, made elsewhere" in well.detail.text()
    assert (window.panel.width_box.value(), window.panel.height_box.value()) == (768, 512)  # its aspect
    window.panel.set_size(384, 256)

    asked: list[bool] = []
    well.encoder_wanted.connect(lambda: asked.append(True))
    window.generate()  # no encoder on this computer: said in the panel, nothing queued
    assert "needs the image encoder" in window.panel.error_label.text()
    assert window.panel.error_label.isVisible() and not window.service.busy
    assert well.encoder_button.isVisible()
    well.encoder_button.click()
    assert asked == [True]
    dialog = window.first_run  # the encoder's own download offer: size and free space first
    assert dialog is not None and dialog.encoder_only and dialog.isVisible()

    write_encoder_weights(encoder_dir)
    dialog.ready.emit()  # as a finished fetch says
    assert not well.encoder_button.isVisible() and not window.panel.error_label.isVisible()
    dialog.close()
    made = read_record(generate_one(qtbot, window))
    assert (made.params.width, made.params.height) == (384, 256)
    assert made.params.source == kept.stem and made.params.strength == 0.5
    assert not window.panel.error_label.isVisible()

    assert well.paste() and list(pictures_dir.iterdir()) == [kept]  # the same picture is kept once


def test_a_picture_of_ours_at_another_size_needs_the_encoder(qtbot, make_window) -> None:
    window = make_window()
    picture = made_image(qtbot, window)
    window.panel.picture.set_picture(picture)
    window.panel.set_size(384, 256)
    window.generate()
    said = window.panel.error_label.text()
    assert "composed at 256×256" in said and "image encoder" in said and not window.service.busy


@pytest.mark.parametrize(
    "content",
    [b"", b"\x89PNG\r\n\x1a\n" + b"\0" * 40, b"GIF89a not really", b"plain text, no picture"],
    ids=["empty", "cut-png", "bad-gif", "text"],
)
def test_a_broken_file_is_refused_and_the_picture_stays(
    qtbot, make_window, tmp_path: Path, content: bytes
) -> None:
    window = make_window()
    good = tmp_path / "good.png"
    Image.new("RGB", (300, 200), (10, 120, 30)).save(good)
    well = window.panel.picture
    assert well.set_picture(good)
    bad = tmp_path / "bad.png"
    bad.write_bytes(content)
    said: list[str] = []
    well.message.connect(said.append)
    drop(qtbot, well, urls(bad))
    assert well.path == good  # nothing lost
    assert len(said) == 1 and said[0].startswith("Cannot start from bad.png") and "Choose" in said[0]
    assert window.statusBar().currentMessage() == said[0]


def test_a_huge_picture_is_refused_without_being_decoded(qtbot, make_window, tmp_path: Path) -> None:
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    # A 60000x60000 PNG header: 10.8 GB of pixels if anyone decoded it.
    header = struct.pack(">IIBBBBB", 60000, 60000, 8, 2, 0, 0, 0)
    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IEND", b""))
    window = make_window()
    said: list[str] = []
    window.panel.picture.message.connect(said.append)
    assert not window.panel.picture.set_picture(bomb)
    assert window.panel.picture.path is None and len(said) == 1 and "bomb.png" in said[0]


def test_start_from_this_picture_in_the_history_menu(qtbot, make_window) -> None:
    from PySide6.QtWidgets import QMenu

    window = make_window()
    picture = made_image(qtbot, window)
    menu = QMenu()
    window.flow.add_menu_actions(menu, window.gallery.item_at(0))
    {a.text(): a for a in menu.actions()}["Start from this picture"].trigger()
    assert window.panel.picture.path == picture


def test_the_clipboard_without_a_picture_says_so(qtbot, make_window) -> None:
    from PySide6.QtGui import QGuiApplication

    window = make_window()
    QGuiApplication.clipboard().setText("just words")
    said: list[str] = []
    window.panel.picture.message.connect(said.append)
    assert not window.panel.picture.paste()
    assert said == ["The clipboard holds no picture. Copy an image or an image file first."]


def test_an_upscaled_image_of_ours_starts_at_its_composition_size(
    qtbot, make_window, prior_dir: Path, decoder_dir: Path, tmp_path: Path
) -> None:
    from wuerstchen_desktop.cli import main

    window = make_window()
    picture = made_image(qtbot, window)
    models = ["--prior", str(prior_dir), "--decoder", str(decoder_dir), "--device", "cpu"]
    assert main(["upscale", str(picture), "--out", str(tmp_path / "big"), *models]) == 0
    (big,) = (tmp_path / "big").glob("*.png")
    well = window.panel.picture
    assert well.set_picture(big) and well.ours
    assert (window.panel.width_box.value(), window.panel.height_box.value()) == (256, 256)
    made = read_record(generate_one(qtbot, window))  # from its stored composition: no encoder here
    assert made.params.source == hashlib.sha256(big.read_bytes()).hexdigest()
    assert (made.params.width, made.params.height, made.params.upscale) == (256, 256, 1)


def test_upscale_2x_from_the_history_and_the_image_view(qtbot, make_window) -> None:
    from PySide6.QtWidgets import QMenu

    window = make_window()
    picture = made_image(qtbot, window)
    item = window.gallery.item_at(0)
    menu = QMenu()
    window.flow.add_menu_actions(menu, item)
    action = {a.text(): a for a in menu.actions()}["Upscale 2x (experimental)"]
    assert action.isEnabled()
    with qtbot.waitSignal(window.service.job_finished, timeout=WAIT_MS) as done:
        action.trigger()
    (big,) = done.args[0].paths
    record = read_record(big)
    assert (record.params.width, record.params.height, record.params.upscale) == (512, 512, 2)
    assert record.params.source == hashlib.sha256(picture.read_bytes()).hexdigest()
    qtbot.waitUntil(lambda: window.gallery.count() == 2, timeout=WAIT_MS)
    window.show_image(picture)
    labels = {a.text(): a for a in window.gallery_actions.image_menu().actions()}
    assert labels["Upscale 2x (experimental)"].isEnabled()
