"""The Settings dialog checks an output folder as it is chosen, with the reason, on real folders; the dark
theme reaches the image canvas and the check boxes."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import pytest
from PySide6.QtGui import QColor

from tests.helpers.disk import read_only_folder
from wuerstchen_desktop.core.settings import Settings
from wuerstchen_desktop.ui.settings_dialog import SettingsDialog
from wuerstchen_desktop.ui.theme import dark_palette


def dialog_for(qtbot, tmp_path: Path) -> SettingsDialog:
    dialog = SettingsDialog(Settings(output_dir=tmp_path / "out"))
    qtbot.addWidget(dialog)
    dialog.show()
    return dialog


def refused(dialog: SettingsDialog, folder: Path, words: str) -> None:
    before = dialog.output_dir.text()
    assert not dialog.choose_output(str(folder))
    assert dialog.output_dir.text() == before  # the refused folder does not replace the good one
    assert dialog.output_problem.isVisible()
    assert words in dialog.output_problem.text() and str(folder) in dialog.output_problem.text()


def test_a_read_only_folder_is_refused_when_chosen(qtbot, tmp_path: Path) -> None:
    dialog = dialog_for(qtbot, tmp_path)
    with read_only_folder(tmp_path / "locked") as locked:
        refused(dialog, locked, "Images cannot be saved in the output folder")
        assert list(locked.iterdir()) == []  # the check left nothing behind


def test_a_file_is_refused_when_chosen_and_a_good_folder_clears_the_reason(qtbot, tmp_path: Path) -> None:
    dialog = dialog_for(qtbot, tmp_path)
    a_file = tmp_path / "picture.png"
    a_file.write_bytes(b"x")
    refused(dialog, a_file, "is a file, not a folder")
    assert dialog.choose_output(str(tmp_path / "usable"))
    assert dialog.output_dir.text() == str(tmp_path / "usable") and not dialog.output_problem.isVisible()


@pytest.mark.skipif(os.name == "nt", reason="a symbolic link needs a privilege on Windows")
def test_a_folder_on_a_disk_that_is_not_connected_is_refused(qtbot, tmp_path: Path) -> None:
    # As a mount point or a link to a removable disk looks while the disk is away.
    (tmp_path / "usb-stick").symlink_to(tmp_path / "media" / "USB-STICK")
    dialog = dialog_for(qtbot, tmp_path)
    refused(dialog, tmp_path / "usb-stick" / "images", "which is not there")
    assert not (tmp_path / "media").exists()


def test_a_typed_folder_is_checked_when_the_field_is_left(qtbot, tmp_path: Path) -> None:
    dialog = dialog_for(qtbot, tmp_path)
    a_file = tmp_path / "notes.txt"
    a_file.write_text("x")
    dialog.output_dir.setText(str(a_file))
    dialog.output_dir.editingFinished.emit()
    assert dialog.output_problem.isVisible() and "is a file" in dialog.output_problem.text()


def test_the_dark_theme_reaches_the_canvas_and_the_check_boxes(qtbot, make_window) -> None:
    window = make_window()
    window.apply_settings(dataclasses.replace(window.settings, theme="light"))
    window.apply_settings(dataclasses.replace(window.settings, theme="dark"))
    dark = dark_palette().window().color()

    def canvas():
        view = window.view.grab().toImage()
        return view.pixelColor(view.width() // 2, view.height() // 2)

    qtbot.waitUntil(lambda: canvas() == dark)  # the palette change is delivered as an event
    # An unchecked check box's square stands out from the window around it.
    window.open_settings()
    check = window.settings_dialog.offline
    check.setChecked(False)
    shot = check.grab().toImage()
    square = check.style().subElementRect(
        check.style().SubElement.SE_CheckBoxIndicator, _option(check), check
    )
    inside = shot.pixelColor(square.center())
    # Lighter than the window, as Fusion's frame around it is darker than the window: a darker square
    # would swallow the frame, and the box with it.
    assert inside.lightness() > dark.lightness() and _contrast(inside, dark) > 1.3
    window.settings_dialog.reject()


def _option(check):
    from PySide6.QtWidgets import QStyleOptionButton

    option = QStyleOptionButton()
    check.initStyleOption(option)
    return option


def _contrast(a: QColor, b: QColor) -> float:
    la, lb = a.lightnessF() + 0.05, b.lightnessF() + 0.05
    return max(la, lb) / min(la, lb)
