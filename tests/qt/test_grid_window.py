"""A grid of compositions through the real window: a real worker thread, tiny checkpoints."""

from __future__ import annotations

from pathlib import Path

from tests.helpers.window import WAIT_MS, drop_on, fast
from wuerstchen_desktop.core.imagefile.grid_image import read_grid
from wuerstchen_desktop.core.imagefile.read import read_record


def compose_grid(qtbot, window, axes: list[str], seed: int = 60):
    fast(window, prompt="a fox", seed=seed, steps=2)
    window.panel.random_seed.setChecked(False)
    grid = window.flow.grids.start_axes(axes)
    assert grid is not None
    sheet = window.flow.sheet
    qtbot.waitUntil(lambda: not window.service.busy and not window.service.pending, timeout=WAIT_MS)
    qtbot.waitUntil(lambda: all(t.item is not None for t in sheet.tiles), timeout=WAIT_MS)
    return grid, sheet


def test_a_3x4_grid_composes_decodes_a_row_and_exports(qtbot, make_window) -> None:
    window = make_window()
    _grid, sheet = compose_grid(qtbot, window, ["seeds=4", "guidance=2,4,6"])
    assert window.center.currentWidget() is sheet
    assert [h.text() for h in sheet.grid.column_heads] == ["seed 60", "seed 61", "seed 62", "seed 63"]
    assert [h.label.text() for h in sheet.row_heads] == ["guidance 2", "guidance 4", "guidance 6"]
    assert len(sheet.tiles) == 12
    for i, tile in enumerate(sheet.tiles):
        row, col = divmod(i, 4)
        record = read_record(tile.item.path)
        assert record.kind == "composition"
        assert (record.params.seed, record.params.prior_guidance) == (60 + col, (2.0, 4.0, 6.0)[row])
    # The tiles sit under their column headers and beside their row headers.
    for i, tile in enumerate(sheet.tiles):
        row, col = divmod(i, 4)
        head, side = sheet.grid.column_heads[col], sheet.row_heads[row]
        assert head.geometry().center().x() == tile.geometry().center().x()
        assert head.geometry().bottom() < tile.geometry().top()
        assert side.geometry().right() < tile.geometry().left()
        assert side.geometry().top() == tile.geometry().top()

    finished: list = []
    window.service.job_finished.connect(finished.append)
    assert sheet.row_heads[1].decode_button.isEnabled()
    sheet.row_heads[1].decode_button.click()
    qtbot.waitUntil(lambda: len(finished) == 4, timeout=WAIT_MS)
    images = [read_record(r.paths[0]) for r in finished]
    assert sorted(r.params.seed for r in images) == [60, 61, 62, 63]
    assert all(r.kind == "image" and r.params.prior_guidance == 4.0 for r in images)
    row_latents = {read_record(t.item.path).latent for t in sheet.tiles[4:8]}
    assert {r.latent for r in images} == row_latents

    assert sheet.export_button.isVisibleTo(sheet) and sheet.export_button.isEnabled()
    sheet.export_button.click()
    exported = window.flow.grids.last_export
    assert exported is not None and exported.parent == window.settings.output_dir / "grids"
    saved = read_grid(exported)
    assert saved.axes["row_labels"] == ["guidance 2", "guidance 4", "guidance 6"]
    assert len(saved.cells) == 12 and saved.cells[(2, 3)].params.seed == 63

    # The grid image dropped on the window: its first cell's parameters fill the panel.
    from PySide6.QtCore import QMimeData, QUrl

    window.panel.prompt.setPlainText("something else")
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(exported))])
    assert drop_on(window.view.viewport(), mime)
    qtbot.waitUntil(lambda: window.panel.prompt.toPlainText() == "a fox", timeout=WAIT_MS)


def test_a_grid_over_priors_composes_each_row_with_its_prior(
    qtbot, make_window, prior_dir: Path, tmp_path: Path
) -> None:
    from wuerstchen_desktop.testing.checkpoints import write_prior_repo

    other = write_prior_repo(tmp_path / "other-prior", seed=9)
    window = make_window()
    _grid, sheet = compose_grid(qtbot, window, ["seeds=2", f"prior={other},{prior_dir}"])
    assert [h.label.text() for h in sheet.row_heads] == ["prior other-prior", "prior wuerstchen-prior"]
    made = [read_record(t.item.path) for t in sheet.tiles]
    assert [r.prior_model for r in made] == [str(other)] * 2 + [str(prior_dir)] * 2
    assert made[0].latent != made[2].latent  # the same seed, another prior: another composition
    # The next job uses the settings' prior again.
    with qtbot.waitSignal(window.service.job_finished, timeout=WAIT_MS) as done:
        window.generate()
    assert read_record(done.args[0].paths[0]).prior_model == str(prior_dir)


def test_cancelling_a_grid_cancels_its_waiting_jobs_and_keeps_its_places(qtbot, make_window) -> None:
    from PySide6.QtCore import Qt

    window = make_window()
    fast(window, prompt="a fox", seed=70, steps=3)
    worker = window.service._worker
    worker.preview.connect(lambda _p: window.service.cancel_current(), Qt.ConnectionType.DirectConnection)
    window.flow.grids.start_axes(["seeds=2", "guidance=2,4,6"])
    sheet = window.flow.sheet
    qtbot.waitUntil(lambda: not window.service.busy and not window.service.pending, timeout=WAIT_MS)
    qtbot.waitUntil(lambda: "cancel" in sheet.status.text().lower(), timeout=WAIT_MS)
    assert len(sheet.tiles) == 6 and all(t.state == "stopped" for t in sheet.tiles)
    assert window.flow.grids.jobs == {}


def test_previews_reach_the_cells_of_their_job(qtbot) -> None:
    from wuerstchen_desktop.core.jobs.job import Preview
    from wuerstchen_desktop.ui.contact_sheet import ContactSheet

    sheet = ContactSheet()
    qtbot.addWidget(sheet)
    # Job 7 composes the second column (tiles 1 and 3), job 8 the first (tiles 0 and 2).
    sheet.begin_grid(
        ["seed 1", "seed 2"], ["steps 2", "steps 4"], [1, 2, 1, 2], (256, 256), {7: [1, 3], 8: [0, 2]}
    )
    pixels = (bytes([200, 10, 10]) * 16, bytes([10, 200, 10]) * 16)
    sheet.show_preview(Preview(7, 1, 2, 4, 4, pixels, (2, 2), False))
    sheet.show_preview(Preview(99, 1, 2, 4, 4, pixels, (1, 1), False))  # another job's: not shown
    assert [t.state for t in sheet.tiles] == ["waiting", "preview", "waiting", "preview"]
    assert sheet.tiles[1].image.pixelColor(0, 0).red() == 200
    assert sheet.tiles[3].image.pixelColor(0, 0).green() == 200


def test_the_dialog_counts_cells_estimates_time_and_refuses_bad_values(qtbot) -> None:
    from PySide6.QtWidgets import QDialogButtonBox

    from wuerstchen_desktop.core.jobs.estimate import StageCosts
    from wuerstchen_desktop.core.params import GenerationParams
    from wuerstchen_desktop.ui.grid_dialog import GridDialog

    base = GenerationParams("a fox", width=512, height=512, seed=3)
    dialog = GridDialog(base, "warp-ai/wuerstchen-prior", StageCosts({"prior": 1.0}))
    qtbot.addWidget(dialog)
    ok = dialog.buttons.button(QDialogButtonBox.StandardButton.Ok)
    assert dialog.axes() == ["seeds=4", "guidance=2, 4, 6"]
    # 12 cells of 29 official steps at a second a step: 348 s
    assert "3 x 4 = 12 compositions, about 6 min" in dialog.summary.text() and ok.isEnabled()
    dialog.down.setText("2, 4, 99")
    assert "prior guidance" in dialog.summary.text() and not ok.isEnabled()
    dialog.down_kind.setCurrentIndex(0)  # nothing down: one row
    assert dialog.axes() == ["seeds=4"] and "1 x 4 = 4" in dialog.summary.text() and ok.isEnabled()
    dialog.across_kind.setCurrentIndex(4)  # prior
    assert dialog.across.text() == "interpolated, finetuned" and "Each of the 2 priors loads once" in (
        dialog.summary.text()
    )
