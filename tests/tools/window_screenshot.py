"""Take a screenshot of the main window after one generation on tiny checkpoints, with ``--compose``
of the contact sheet after a compose of four seeds, or with ``--grid`` of a 3 x 4 grid on the sheet.

Run under a real X server to see what an artist sees, for example:
    xvfb-run -s "-screen 0 1600x1000x24" python tests/tools/window_screenshot.py docs/window.png
    xvfb-run -s "-screen 0 1600x1000x24" python tests/tools/window_screenshot.py docs/compose.png --compose
    xvfb-run -s "-screen 0 1600x1000x24" python tests/tools/window_screenshot.py docs/grid.png --grid
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path
from typing import Any

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication


def main(out: Path, compose: bool = False, grid: bool = False) -> int:
    from wuerstchen_desktop.core.jobs.job import EngineConfig
    from wuerstchen_desktop.core.params import GenerationParams
    from wuerstchen_desktop.core.settings import Settings
    from wuerstchen_desktop.testing import checkpoints
    from wuerstchen_desktop.ui.main_window import MainWindow
    from wuerstchen_desktop.worker.generation import GenerationService

    app = QApplication(sys.argv[:1])
    root = Path(tempfile.mkdtemp(prefix="wuerstchen-shot-"))
    prior = checkpoints.write_prior_repo(root / "prior")
    decoder = checkpoints.write_decoder_repo(root / "decoder")
    service = GenerationService(EngineConfig(str(prior), str(decoder), "cpu", "float32"))
    settings = Settings(device="cpu", dtype="float32", output_dir=root / "out")
    window = MainWindow(service, settings, index_path=root / "index.sqlite3")
    window.resize(1360, 860)
    window.show()
    prompt = "an astronaut riding a horse, oil painting"
    if compose:
        return compose_shot(app, window, out, prompt)
    if grid:
        return grid_shot(app, window, out, prompt)
    for seed in (3, 4):
        window.panel.set_params(
            GenerationParams(prompt, width=768, height=512, seed=seed, prior_steps=4, decoder_steps=2)
        )
        window.generate()
    window.panel.set_params(
        GenerationParams(prompt, width=768, height=512, seed=5, prior_steps=200, decoder_steps=40)
    )
    window.generate()
    for waiting in ("a lighthouse in a storm, woodcut", "a fox in the snow, watercolour"):
        window.panel.set_params(GenerationParams(waiting, width=1024, height=1024, seed=6, images=2))
        window.generate()
    window.panel.set_params(GenerationParams(prompt, width=768, height=512, seed=5))
    window.queue_dock.show()

    def shoot(*_args: object) -> None:
        window.gallery.select_row(1)
        item = window.gallery.item_at(1)
        if item is not None:
            window.panel.picture.set_picture(item.path)  # the picture well, holding an earlier image
        QTimer.singleShot(400, lambda: (window.grab().save(str(out)), print(out), window.close(), app.quit()))

    seen = {"n": 0}

    def on_progress(job_id: int, stage: str, step: int, total: int, left: float) -> None:
        if job_id == 3 and stage == "decoder" and step >= 3 and not seen["n"]:
            seen["n"] = 1
            shoot()

    service.progress.connect(on_progress)
    return int(app.exec())


def save(window: Any, out: Path, app: QApplication) -> None:
    window.grab().save(str(out))
    print(out)
    window.close()
    app.quit()


def compose_shot(app: QApplication, window: Any, out: Path, prompt: str) -> int:
    from wuerstchen_desktop.core.params import GenerationParams

    window.panel.set_params(GenerationParams(prompt, width=768, height=512, seed=21, prior_steps=6))
    window.panel.compose_count.setValue(4)
    window.queue_dock.hide()
    window.flow.compose()
    sheet = window.flow.sheet

    def check() -> None:
        if sheet.tiles and all(t.item is not None for t in sheet.tiles):
            sheet.tiles[1].setChecked(True)
            sheet.tiles[2].setChecked(True)
            sheet.blend_button.setChecked(True)
            QTimer.singleShot(400, lambda: save(window, out, app))
        else:
            QTimer.singleShot(200, check)

    QTimer.singleShot(200, check)
    return int(app.exec())


def grid_shot(app: QApplication, window: Any, out: Path, prompt: str) -> int:
    from wuerstchen_desktop.core.params import GenerationParams

    window.panel.set_params(GenerationParams(prompt, width=768, height=512, seed=21, prior_steps=6))
    window.queue_dock.hide()
    window.flow.grids.start_axes(["seeds=4", "guidance=2,4,6"])
    sheet = window.flow.sheet

    def check() -> None:
        if sheet.tiles and all(t.item is not None for t in sheet.tiles) and not window.service.busy:
            sheet.tiles[5].setChecked(True)
            sheet.tiles[6].setChecked(True)
            QTimer.singleShot(400, lambda: save(window, out, app))
        else:
            QTimer.singleShot(200, check)

    QTimer.singleShot(200, check)
    return int(app.exec())


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    out = Path(args[0] if args else "window.png")
    sys.exit(main(out, compose="--compose" in sys.argv, grid="--grid" in sys.argv))
