"""The window over the real worker threads, the real tiny pipeline and a real history index."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image
from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QApplication, QMessageBox

from tests.helpers.window import HARMLESS_QT_WARNINGS, WAIT_MS, fast, generate_and_wait


def test_generate_shows_saves_and_lists_the_image(qtbot, make_window) -> None:
    window = make_window()
    fast(window, images=2, seed=11)
    with qtbot.waitSignal(window.service.job_finished, timeout=WAIT_MS) as done:
        qtbot.keyClick(window.panel.prompt, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    result = done.args[0]
    assert len(result.paths) == 2 and all(Path(p).is_file() for p in result.paths)
    assert all(window.out_dir in Path(p).parents for p in result.paths)
    qtbot.waitUntil(lambda: window.gallery.count() == 2, timeout=WAIT_MS)
    assert sorted(window.gallery.item_at(i).seed for i in range(2)) == [11, 12]
    assert window.view.has_image()
    assert window.progress.isHidden()
    # The thumbnails arrive from the history thread.
    model = window.gallery.model
    qtbot.waitUntil(lambda: model.data(model.index(0), Qt.ItemDataRole.DecorationRole) is not None)


def test_images_carry_their_parameters(qtbot, make_window) -> None:
    from wuerstchen_desktop.core.imagefile.read import read_parameters

    window = make_window()
    fast(window, prompt="a red dog", seed=21)
    with qtbot.waitSignal(window.service.job_finished, timeout=WAIT_MS) as done:
        window.generate()
    found = read_parameters(done.args[0].paths[0])
    assert found.record is not None and found.record.latent is not None
    assert found.record.params == window.panel.current_or_default().replace(prompt="a red dog", images=1)


def test_progress_reports_stage_step_and_eta(qtbot, make_window) -> None:
    window = make_window()
    fast(window, steps=4)
    reports: list[tuple] = []
    window.service.progress.connect(lambda *a: reports.append(a))
    with qtbot.waitSignal(window.service.job_finished, timeout=WAIT_MS):
        window.generate()
    assert reports[0][1] == "prior" and reports[-1][1] == "vqgan"
    assert ("prior", 4, 4) in [(r[1], r[2], r[3]) for r in reports]
    assert all(r[4] >= 0 for r in reports)


def test_cancel_with_escape(qtbot, make_window) -> None:
    window = make_window()
    fast(window, steps=200)
    steps: list[int] = []

    def press_escape_once(job_id: int, stage: str, step: int, total: int, left: float) -> None:
        steps.append(step)
        if len(steps) == 1:
            qtbot.keyClick(window, Qt.Key.Key_Escape)

    window.service.progress.connect(press_escape_once)
    with qtbot.waitSignal(window.service.job_cancelled, timeout=WAIT_MS):
        window.generate()
    assert max(steps) < 200  # stopped long before the end
    assert not any(window.out_dir.rglob("*.png"))
    fast(window, steps=2)  # the next job runs normally
    generate_and_wait(qtbot, window, 1)


def test_jobs_queue_while_one_runs(qtbot, make_window) -> None:
    window = make_window()
    finished: list = []
    window.service.job_finished.connect(finished.append)
    fast(window, prompt="a cat", seed=1, steps=6)
    window.generate()
    fast(window, prompt="a dog", seed=2)
    window.generate()
    assert window.service.pending == 1
    assert "waiting" in window.panel.generate_button.text()
    qtbot.waitUntil(lambda: len(finished) == 2 and window.gallery.count() == 2, timeout=WAIT_MS)
    assert [window.gallery.item_at(i).prompt for i in range(2)] == ["a dog", "a cat"]  # newest first


def test_bad_checkpoint_shows_an_error_and_the_window_survives(qtbot, make_window, tmp_path: Path) -> None:
    window = make_window(prior=tmp_path / "no-such-prior")
    fast(window)
    with qtbot.waitSignal(window.service.job_failed, timeout=WAIT_MS) as failed:
        window.generate()
    error = failed.args[0]
    assert "no-such-prior" in error.message
    assert "Traceback" in error.details
    qtbot.waitUntil(lambda: getattr(window, "error_box", None) is not None and window.error_box.isVisible())
    assert str(tmp_path / "app.log") in window.error_box.informativeText()
    assert window.progress.isHidden()


def test_invalid_input_is_explained_in_the_panel(qtbot, make_window) -> None:
    window = make_window()
    fast(window)
    window.panel.prompt.setPlainText("")
    window.generate()
    assert window.panel.error_label.isVisible()
    assert window.service.pending == 0 and not window.service.busy


def test_copy_image_and_parameters(qtbot, make_window) -> None:
    window = make_window()
    fast(window, prompt="a blue dog", seed=9)
    generate_and_wait(qtbot, window, 1)
    window.gallery.select_row(0)
    window.copy_image()
    assert not QGuiApplication.clipboard().image().isNull()
    QGuiApplication.clipboard().clear()
    window.gallery_actions.copy_parameters()
    qtbot.waitUntil(lambda: "Steps: " in QGuiApplication.clipboard().text())
    text = QGuiApplication.clipboard().text()
    assert text.startswith("a blue dog\nNegative prompt:") and "Seed: 9" in text


def test_closing_during_a_job_cancels_and_stops_the_threads(qtbot, make_window) -> None:
    window = make_window()
    fast(window, steps=200)
    with qtbot.waitSignal(window.service.progress, timeout=WAIT_MS):
        window.generate()
    assert window.service.busy
    window.close()  # the window goes once the job has stopped (tests/qt/test_closing.py)
    qtbot.waitUntil(lambda: not window.isVisible(), timeout=WAIT_MS)
    assert window.service._thread.isFinished()
    assert window.history._thread.isFinished()


def test_token_counter_against_the_limit(qtbot, make_window) -> None:
    window = make_window()
    window.panel.prompt.setPlainText("a cat")
    window.start_engine()
    qtbot.waitUntil(lambda: window.panel.token_label.text() == "4 / 77 tokens", timeout=WAIT_MS)
    window.panel.prompt.setPlainText(" ".join(["a red cat"] * 30 + ["astronaut horse"]))
    assert "94 / 77 tokens" in window.panel.token_label.text()
    assert "astronaut horse" in window.panel.token_label.text()


def test_status_bar_shows_memory_in_use(qtbot, make_window) -> None:
    window = make_window()
    window.status.update_memory()
    text = window.status.memory_label.text()
    assert text.startswith("RAM ") and text.endswith(" GB")


def test_cancel_all_empties_the_queue(qtbot, make_window) -> None:
    window = make_window()
    cancelled: list[int] = []
    window.service.job_cancelled.connect(cancelled.append)
    fast(window, steps=200)
    with qtbot.waitSignal(window.service.progress, timeout=WAIT_MS):
        window.generate()
    fast(window, seed=2)
    window.generate()
    window.generate()
    qtbot.keyClick(window, Qt.Key.Key_Escape, Qt.KeyboardModifier.ShiftModifier)
    box = window.menus.confirm_box
    assert box is not None and box.text() == "Cancel the running job and 2 waiting jobs?"
    assert not cancelled and window.service.pending == 2  # nothing is cancelled before the answer
    box.button(QMessageBox.StandardButton.Yes).click()
    qtbot.waitUntil(lambda: len(cancelled) == 3 and not window.service.busy, timeout=WAIT_MS)
    assert window.service.pending == 0 and window.gallery.count() == 0


def test_file_name_pattern_from_the_settings(qtbot, make_window) -> None:
    import dataclasses

    window = make_window()
    window.apply_settings(dataclasses.replace(window.settings, name_pattern="mine/{seed}-{width}x{height}"))
    fast(window, seed=31)
    with qtbot.waitSignal(window.service.job_finished, timeout=WAIT_MS) as done:
        window.generate()
    assert done.args[0].paths[0] == window.out_dir / "mine" / "31-256x256.png"


def test_choosing_another_prior_variant_offers_its_download(qtbot, make_window) -> None:
    window = make_window()
    combo = window.panel.prior_variant
    assert combo.currentText().startswith("Custom: ")  # the tiny test prior is a folder
    combo.setCurrentIndex(combo.findData("warp-ai/wuerstchen-prior-model-finetuned"))
    combo.activated.emit(combo.currentIndex())
    assert window.settings.prior == "warp-ai/wuerstchen-prior-model-finetuned"
    qtbot.waitUntil(lambda: window.first_run is not None, timeout=WAIT_MS)
    assert window.first_run.repos[0] == "warp-ai/wuerstchen-prior-model-finetuned"


def test_tab_walks_the_prompt_panel_in_reading_order(qtbot, make_window, tmp_path: Path) -> None:
    window = make_window()
    panel = window.panel
    panel.aspect.setCurrentIndex(panel.aspect.findData("custom"))  # size boxes enabled
    panel.random_seed.setChecked(False)
    panel.advanced.set_open(True)
    panel.official.setChecked(False)  # prior steps enabled
    picture = tmp_path / "start.png"
    Image.new("RGB", (300, 200)).save(picture)
    assert panel.picture.set_picture(picture)  # its Clear button and strength slider shown
    panel.prompt.setFocus()
    seen = [QApplication.focusWidget()]
    for _ in range(len(panel.tab_order) - 1):
        qtbot.keyClick(QApplication.focusWidget(), Qt.Key.Key_Tab)
        seen.append(QApplication.focusWidget())
    assert seen == panel.tab_order
    assert all(w.accessibleName() for w in panel.tab_order if w is not panel.generate_button)


def test_quality_presets_set_the_steps_and_advanced_says_what_they_are(qtbot, make_window) -> None:
    window = make_window()
    panel, advanced = window.panel, window.panel.advanced
    assert not advanced.body.isVisibleTo(window)  # a first-time user sees Quality, not the steps
    assert panel.quality.currentData() == "standard" and advanced.steps() == (None, 12)
    assert (panel.prior_steps.value(), panel.prior_steps.isEnabled()) == (29, False)  # what the schedule runs
    for key, steps in (("draft", (12, 6)), ("fine", (None, 20)), ("standard", (None, 12))):
        panel.quality.setCurrentIndex(panel.quality.findData(key))
        panel.quality.activated.emit(panel.quality.currentIndex())
        assert advanced.steps() == steps
    fast(window, steps=3)  # steps no preset has: "Custom"
    assert panel.quality.currentData() == "custom" and advanced.steps() == (3, 1)
    assert panel.params().prior_steps == 3
    panel.official.setChecked(True)
    assert panel.prior_steps.value() == 29 and not panel.prior_steps.isEnabled()
    panel.official.setChecked(False)
    assert panel.prior_steps.value() == 3  # the person's own count comes back
    for field in (panel.prior_steps, panel.prior_guidance, panel.decoder_steps, panel.decoder_guidance):
        assert len(field.toolTip()) > 30
    tips = [panel.prior_variant.itemData(i, Qt.ItemDataRole.ToolTipRole) for i in range(3)]
    assert all("GB" in tip for tip in tips) and len(set(tips)) == 3
    assert "downloaded when chosen" in panel.prior_variant.toolTip() or panel.prior_variant.currentIndex() > 2


def test_a_custom_prior_shows_its_folder_name(qtbot, make_window, prior_dir: Path) -> None:
    window = make_window()
    combo = window.panel.prior_variant
    assert combo.currentText() == f"Custom: {prior_dir.name}"
    assert str(prior_dir) in combo.toolTip()


@pytest.mark.qt_log_ignore(*HARMLESS_QT_WARNINGS, "This plugin does not support raise")  # the tooltip
def test_the_engine_line_says_device_precision_memory_and_explains_them(qtbot, make_window) -> None:
    from PySide6.QtCore import QEvent, QPoint
    from PySide6.QtGui import QHelpEvent
    from PySide6.QtWidgets import QToolTip

    window = make_window()
    fast(window)
    generate_and_wait(qtbot, window, 1)
    label = window.engine_label
    qtbot.waitUntil(lambda: label.text() == "Ready · CPU · float32 · high memory", timeout=WAIT_MS)
    QApplication.sendEvent(
        label, QHelpEvent(QEvent.Type.ToolTip, QPoint(4, 4), label.mapToGlobal(QPoint(4, 4)))
    )
    tip = QToolTip.text()
    assert "number precision" in tip and "memory mode" in tip and "Settings (Ctrl+,)" in tip
