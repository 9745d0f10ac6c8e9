"""Settings: edited in the dialog, persisted in a real QSettings file, used by the next job."""

from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtCore import QSettings

from tests.helpers.window import fast
from wuerstchen_desktop.core.settings import Settings
from wuerstchen_desktop.ui.settings_dialog import SettingsDialog, SettingsStore


def test_settings_persist_and_apply(qtbot, make_window, tmp_path: Path) -> None:
    window = make_window()
    window.open_settings()
    dialog: SettingsDialog = window.settings_dialog
    dialog.combos["image_format"].setCurrentIndex(dialog.combos["image_format"].findData("webp"))
    dialog.combos["theme"].setCurrentIndex(dialog.combos["theme"].findData("dark"))
    dialog.output_dir.setText(str(tmp_path / "elsewhere"))
    dialog.combos["memory"].setCurrentIndex(dialog.combos["memory"].findData("low"))
    dialog.accept()
    assert window.settings.image_format == "webp"

    reloaded, warnings = SettingsStore(
        QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    ).load()
    assert warnings == []
    assert reloaded == window.settings
    assert reloaded.output_dir == tmp_path / "elsewhere" and reloaded.theme == "dark"
    assert reloaded.memory == "low"

    fast(window)
    with qtbot.waitSignal(window.service.job_finished, timeout=60_000) as done:
        window.generate()
    (path,) = done.args[0].paths
    assert "low memory" in window.engine_label.text()  # the engine reloaded in the chosen mode
    assert tmp_path / "elsewhere" in path.parents and path.suffix == ".webp"


def test_bad_stored_value_falls_back_with_a_warning_in_the_log(tmp_path: Path, caplog) -> None:
    qs = QSettings(str(tmp_path / "bad.ini"), QSettings.Format.IniFormat)
    qs.setValue("device", "quantum")
    qs.setValue("image_format", "jpeg")
    qs.sync()
    caplog.set_level(logging.WARNING)
    settings, warnings = SettingsStore(qs).load()
    assert settings.device == Settings().device
    assert settings.image_format == "jpeg"
    assert len(warnings) == 1 and "quantum" in caplog.text


def test_changing_the_checkpoints_reloads_the_engine(qtbot, make_window, tmp_path: Path) -> None:
    window = make_window()
    fast(window)
    with qtbot.waitSignal(window.service.job_finished, timeout=60_000):
        window.generate()
    window.apply_settings(
        Settings(
            device="cpu",
            dtype="float32",
            output_dir=tmp_path / "o",
            prior=str(tmp_path / "missing-prior"),
            decoder=window.settings.decoder,
        )
    )
    with qtbot.waitSignal(window.service.job_failed, timeout=60_000) as failed:
        window.generate()
    assert "missing-prior" in failed.args[0].message


def test_the_dialog_offers_exactly_the_table_of_choices(qtbot) -> None:
    from wuerstchen_desktop.core.choices import ENGINE_CHOICES

    dialog = SettingsDialog(Settings())
    qtbot.addWidget(dialog)
    for name, values in ENGINE_CHOICES.items():
        combo = dialog.combos[name]
        assert tuple(combo.itemData(i) for i in range(combo.count())) == values
        assert all(combo.itemText(i) for i in range(combo.count()))  # each has a label
