from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers.window import HARMLESS_QT_WARNINGS

# Any Qt warning fails a window test, above all Qt's own word that a widget was touched off the GUI thread
# ("Cannot create children for a parent that is in a different thread", "Timers cannot be started from
# another thread"): such a call crashes the app sooner or later. HARMLESS_QT_WARNINGS alone are harmless.
# So wait on the window (qtbot.waitUntil) or on GenerationService, never qtbot.waitSignal on a worker's
# own signal: pytest-qt's blocker would then stop its timer on the worker's thread.


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in item.path.parents:
            item.add_marker(pytest.mark.qt_log_level_fail("WARNING"))
            item.add_marker(pytest.mark.qt_log_ignore(*HARMLESS_QT_WARNINGS))


@pytest.fixture
def make_window(qtbot, prior_dir: Path, decoder_dir: Path, tmp_path: Path):
    """A real main window over a real GenerationService (worker on its own QThread), tiny checkpoints."""
    from PySide6.QtCore import QSettings

    from wuerstchen_desktop.core.jobs.job import EngineConfig
    from wuerstchen_desktop.core.settings import Settings
    from wuerstchen_desktop.ui.main_window import MainWindow
    from wuerstchen_desktop.ui.settings_dialog import SettingsStore
    from wuerstchen_desktop.worker.generation import GenerationService

    made: list = []

    def make(
        prior: Path | str = prior_dir,
        decoder: Path | str = decoder_dir,
        output_dir: Path | None = None,
        place: QSettings | None = None,
    ) -> MainWindow:
        service = GenerationService(EngineConfig(str(prior), str(decoder), "cpu", "float32"))
        settings = Settings(
            device="cpu",
            dtype="float32",
            output_dir=output_dir or tmp_path / "out",
            prior=str(prior),
            decoder=str(decoder),
        )
        store = SettingsStore(QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat))
        window = MainWindow(
            service, settings, store, tmp_path / "app.log", index_path=tmp_path / "index.sqlite3", place=place
        )
        qtbot.addWidget(window)
        window.show()
        window.activateWindow()
        qtbot.waitUntil(window.isActiveWindow)  # shortcuts reach only the active window
        made.append(window)
        return window

    yield make
    for window in made:
        window.service.shutdown()
        window.history.shutdown()
