"""The window is touched from the GUI thread only, whatever the workers answer: exporting a copy, then
composing, and unusable output folders used to run widget code on the history thread and crash the app.

Every test here also fails on a Qt warning that a widget was used from another thread (see conftest.py).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.disk import read_only_folder
from tests.helpers.window import WAIT_MS, compose_and_wait, fast, generate_and_wait


def record_threads(monkeypatch: pytest.MonkeyPatch, obj: Any, name: str, threads: list[str]) -> None:
    """Calls of ``obj.name`` go on as before; ``threads`` gets the name of each caller's thread."""
    original: Callable[..., Any] = getattr(obj, name)

    def recording(*args: Any, **kwargs: Any) -> Any:
        threads.append(threading.current_thread().name)
        return original(*args, **kwargs)

    monkeypatch.setattr(obj, name, recording)


def watch_window(monkeypatch: pytest.MonkeyPatch, window: Any) -> list[str]:
    """The threads that show a status message or reload the gallery, from now on."""
    threads: list[str] = []
    window.watched_status = window.statusBar()  # keeps this Python wrapper, and so its patch, alive
    record_threads(monkeypatch, window.watched_status, "showMessage", threads)
    record_threads(monkeypatch, window.gallery.model, "reload", threads)
    return threads


GUI = threading.main_thread().name


def test_export_without_metadata_then_compose(qtbot, make_window, tmp_path: Path, monkeypatch) -> None:
    window = make_window()
    fast(window)
    generate_and_wait(qtbot, window, 1)
    touched = watch_window(monkeypatch, window)
    window.gallery_actions.export_clean(window.gallery.item_at(0), tmp_path / "share")
    qtbot.waitUntil(lambda: "Exported" in window.statusBar().currentMessage(), timeout=WAIT_MS)
    sheet = compose_and_wait(qtbot, window, "a fox", seed=8)
    assert len(sheet.tiles) == 2
    assert touched and set(touched) == {GUI}


def test_export_to_an_unusable_folder_says_why(qtbot, make_window, tmp_path: Path, monkeypatch) -> None:
    window = make_window()
    fast(window)
    generate_and_wait(qtbot, window, 1)
    touched = watch_window(monkeypatch, window)
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    window.gallery_actions.export_clean(window.gallery.item_at(0), blocker)
    qtbot.waitUntil(lambda: str(blocker) in window.statusBar().currentMessage(), timeout=WAIT_MS)
    assert set(touched) == {GUI}


def test_a_new_output_folder_reloads_the_gallery_on_the_gui_thread(
    qtbot, make_window, tmp_path: Path, monkeypatch
) -> None:
    window = make_window()
    touched = watch_window(monkeypatch, window)
    window.history.open(tmp_path / "other", tmp_path / "index.sqlite3")
    qtbot.waitUntil(lambda: bool(touched), timeout=WAIT_MS)
    assert set(touched) == {GUI}


def settings_dialog_with_output(window: Any, folder: Path) -> Any:
    window.open_settings()
    dialog = window.settings_dialog
    dialog.output_dir.setText(str(folder))
    dialog.accept()
    return dialog


def test_an_output_folder_that_is_a_file_is_refused_in_the_settings(
    qtbot, make_window, tmp_path: Path, monkeypatch
) -> None:
    window = make_window()
    touched = watch_window(monkeypatch, window)
    before = window.settings.output_dir
    a_file = tmp_path / "picture.png"
    a_file.write_bytes(b"not a folder")
    for folder, words in ((a_file, "is a file, not a folder"), (a_file / "sub", "cannot be created")):
        dialog = settings_dialog_with_output(window, folder)
        assert dialog.isVisible(), "OK must keep the dialog open"
        assert words in dialog.output_problem.text() and str(folder) in dialog.output_problem.text()
        assert dialog.output_problem.isVisible()
        assert window.settings.output_dir == before
        dialog.reject()
    dialog = settings_dialog_with_output(window, tmp_path / "usable")
    assert not dialog.isVisible() and window.settings.output_dir == tmp_path / "usable"
    fast(window)
    with qtbot.waitSignal(window.service.job_finished, timeout=WAIT_MS) as done:
        window.generate()
    assert all(tmp_path / "usable" in p.parents for p in done.args[0].paths)
    qtbot.waitUntil(lambda: window.gallery.count() == 1, timeout=WAIT_MS)
    assert set(touched) == {GUI}


def test_a_read_only_output_folder_is_refused_in_the_settings(qtbot, make_window, tmp_path: Path) -> None:
    window = make_window()
    with read_only_folder(tmp_path / "locked") as locked:
        dialog = settings_dialog_with_output(window, locked)
        assert dialog.isVisible()
        assert "Images cannot be saved in the output folder" in dialog.output_problem.text()


def test_starting_with_an_output_folder_that_is_a_file(qtbot, make_window, tmp_path: Path) -> None:
    a_file = tmp_path / "out"
    a_file.write_text("not a folder")
    window = make_window(output_dir=a_file)
    qtbot.waitUntil(lambda: "is a file, not a folder" in window.statusBar().currentMessage(), timeout=WAIT_MS)
    fast(window)
    with qtbot.waitSignal(window.service.job_failed, timeout=WAIT_MS) as failed:
        window.generate()
    assert str(a_file) in failed.args[0].message  # the job says where it could not save
    qtbot.waitUntil(lambda: window.error_box.isVisible(), timeout=WAIT_MS)
