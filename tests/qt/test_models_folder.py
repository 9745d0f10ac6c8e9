"""The models folder of the settings: the window downloads into it and the engine loads from it, against a
Hub on 127.0.0.1, while the process's Hugging Face settings stay as they were."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

from tests.helpers.window import fast

WAIT_MS = 60_000
PRIOR, DECODER = "warp-ai/wuerstchen-prior", "warp-ai/wuerstchen"
SPACE = "warp-ai/Wuerstchen"  # the demo, with the live-preview model


def test_a_models_folder_is_downloaded_into_and_loaded_from(qtbot, hub, tmp_path: Path) -> None:
    from huggingface_hub import constants

    from wuerstchen_desktop.core.hub import cache_layout
    from wuerstchen_desktop.core.jobs.job import EngineConfig
    from wuerstchen_desktop.core.settings import Settings
    from wuerstchen_desktop.ui.main_window import MainWindow
    from wuerstchen_desktop.worker.generation import GenerationService

    default_cache = Path(constants.HF_HUB_CACHE)  # the hub fixture's empty cache
    environment = os.environ.get("HF_HUB_CACHE")
    models = tmp_path / "my models"
    settings = Settings(
        device="cpu",
        dtype="float32",
        output_dir=tmp_path / "out",
        prior=PRIOR,
        decoder=DECODER,
        models_dir=str(models),
    )

    def start() -> MainWindow:
        service = GenerationService(EngineConfig.from_settings(settings))
        window = MainWindow(service, settings, None, tmp_path / "app.log", index_path=tmp_path / "index.db")
        qtbot.addWidget(window)
        windows.append(window)
        window.show()
        return window

    windows: list[MainWindow] = []
    try:
        window = start()
        window.start_engine()
        qtbot.waitUntil(lambda: window.first_run is not None, timeout=WAIT_MS)
        dialog = window.first_run
        qtbot.waitUntil(dialog.download_button.isEnabled, timeout=WAIT_MS)
        assert dialog.detail.text().endswith(str(models))  # "Files go to" the models folder
        with (
            qtbot.waitSignal(dialog.ready, timeout=WAIT_MS),
            qtbot.waitSignal(window.service.engine_ready, timeout=WAIT_MS),
        ):
            dialog.download_button.click()
        previews: list = []
        window.service.preview.connect(previews.append)
        fast(window)
        with qtbot.waitSignal(window.service.job_finished, timeout=WAIT_MS) as done:
            window.generate()
        assert len(done.args[0].paths) == 1
        for repo in (PRIOR, DECODER):
            assert cache_layout.local_status(repo, cache_dir=models).verified
        # The live-preview model came along into the same folder, and the worker found it there.
        assert cache_layout.local_status(SPACE, cache_dir=models, repo_type="space").complete
        assert previews and not any(p.approximate for p in previews)
        assert not default_cache.exists() or not any(default_cache.iterdir())
        # Nothing global was rewritten to get there.
        assert (os.environ.get("HF_HUB_CACHE"), constants.HF_HUB_CACHE) == (environment, str(default_cache))
        window.close()

        # The next start finds everything there: no dialog, the engine loads, the prompt's tokens count.
        again = start()
        with qtbot.waitSignal(again.service.engine_ready, timeout=WAIT_MS):
            again.start_engine()
        qtbot.waitUntil(lambda: again.panel._counter is not None, timeout=WAIT_MS)
        assert again.first_run is None

        # Another models folder applies at once: its files are missing, so the first-run dialog asks.
        again.apply_settings(dataclasses.replace(settings, models_dir=str(tmp_path / "empty")))
        qtbot.waitUntil(lambda: again.first_run is not None, timeout=WAIT_MS)
        assert again.first_run.repos == [PRIOR, DECODER]
    finally:
        for each in windows:
            each.service.shutdown()
            each.history.shutdown()
