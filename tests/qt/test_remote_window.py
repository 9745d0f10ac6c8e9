"""The window drives a server running in another process (``python -m wuerstchen_desktop serve`` over the
tiny checkpoints): its images and compositions land in the local output folder and history with their
records, cancel stops the server's job, and a server killed mid-job (SIGKILL) leaves the queue waiting in
the window until it is started again, when every job finishes and each image is saved once."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest
from PySide6.QtCore import QSettings

from tests.helpers.serve_process import ServeProcess
from tests.helpers.window import WAIT_MS, fast
from wuerstchen_desktop.core.imagefile.read import read_record
from wuerstchen_desktop.core.jobs.job import JobKind
from wuerstchen_desktop.core.settings import Settings

pytestmark = pytest.mark.skipif(os.name != "posix", reason="SIGKILL, XDG_DATA_HOME")


@pytest.fixture
def remote_window(qtbot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A real main window, as the app makes it, set to run on the server at ``url`` (with ``token``)."""
    from wuerstchen_desktop.core import appdirs
    from wuerstchen_desktop.ui.main_window import MainWindow
    from wuerstchen_desktop.ui.settings_dialog import SettingsStore
    from wuerstchen_desktop.worker.remote_jobs import save_token
    from wuerstchen_desktop.worker.run_on import RunOn

    token_file = tmp_path / "client-data" / "client-token"
    monkeypatch.setattr(appdirs, "client_token_file", lambda: token_file)
    made = []

    def make(url: str, token: str = "", **local: str) -> MainWindow:
        save_token(token)
        settings = Settings(output_dir=tmp_path / "out", run_on="server", server_url=url, **local)
        service = RunOn(settings)
        assert service.on_server
        store = SettingsStore(QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat))
        window = MainWindow(service, settings, store, tmp_path / "app.log", index_path=tmp_path / "i.sqlite3")
        qtbot.addWidget(window)
        window.show()
        window.start_engine()
        made.append(window)
        return window

    yield make
    for window in made:
        window.service.shutdown()
        window.history.shutdown()


def saved(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*.png") if not p.name.startswith("."))


def test_generate_compose_decode_and_cancel_on_a_server(
    qtbot, remote_window, prior_dir, decoder_dir, tmp_path, caplog
):
    caplog.set_level(logging.DEBUG, logger="wuerstchen_desktop.worker.remote")  # the events, if it fails
    server = ServeProcess(prior_dir, decoder_dir, tmp_path / "server-out")
    try:
        window = remote_window(server.url)
        qtbot.waitUntil(lambda: window.engine_label.text().startswith("Ready · 127.0.0.1"), timeout=WAIT_MS)
        assert "cpu · float32" in window.engine_label.text()

        # Generate: live previews, then the server's file, byte for byte, under the window's name, in the
        # history.
        previews = []
        window.service.preview.connect(lambda p: previews.append(p))
        fast(window, prompt="a remote cat", seed=11)
        with qtbot.waitSignal(window.service.job_finished, timeout=WAIT_MS) as done:
            window.generate()
        assert previews, "".join(server.said)
        assert all(p.job_id == done.args[0].job_id and p.seeds == (11,) for p in previews)
        assert previews[-1].step == previews[-1].total == 2 and len(previews[-1].images) == 1
        (path,) = done.args[0].paths
        assert path.parent.parent == tmp_path / "out" and path.name.endswith("-11-a-remote-cat.png")
        assert read_record(path).params.seed == 11
        (theirs,) = saved(tmp_path / "server-out")
        assert path.read_bytes() == theirs.read_bytes()
        qtbot.waitUntil(lambda: window.gallery.count() == 1, timeout=WAIT_MS)

        # Compose four seeds: the compositions saved here fill the contact sheet; decode one of them.
        fast(window, prompt="a remote sheet", seed=40, steps=2)
        window.panel.compose_count.setValue(4)
        sheet = window.flow.sheet
        with qtbot.waitSignal(window.service.job_finished, timeout=WAIT_MS) as composed:
            window.flow.compose()
        assert composed.args[0].kind is JobKind.COMPOSE and len(composed.args[0].paths) == 4
        assert all(p.parent.parent.name == "compositions" for p in composed.args[0].paths)
        qtbot.waitUntil(lambda: all(t.item is not None for t in sheet.tiles), timeout=WAIT_MS)
        assert sorted(t.item.seed for t in sheet.tiles) == [40, 41, 42, 43]
        third = next(t.item for t in sheet.tiles if t.item.seed == 42)
        with qtbot.waitSignal(window.service.job_finished, timeout=WAIT_MS) as decoded:
            window.flow.decode([third])
        (image,) = decoded.args[0].paths
        record = read_record(image)
        assert (
            record.kind == "image" and record.params.seed == 42 and record.params.prompt == "a remote sheet"
        )
        qtbot.waitUntil(lambda: window.gallery.count() == 6, timeout=WAIT_MS)  # 1 + 4 compositions + 1

        # Cancel: the server stops the job; nothing of it is saved here.
        before = saved(tmp_path / "out")
        fast(window, prompt="a long cancelled job", seed=3, images=16, steps=200)
        with qtbot.waitSignal(window.service.job_progress, timeout=WAIT_MS):
            window.generate()
        with qtbot.waitSignal(window.service.job_cancelled, timeout=WAIT_MS):
            window.cancel_button.click()
        assert not window.service.busy and saved(tmp_path / "out") == before
    finally:
        server.kill()


def test_a_killed_server_keeps_the_queue_and_resumes_it(
    qtbot, remote_window, prior_dir, decoder_dir, tmp_path
):
    server = ServeProcess(prior_dir, decoder_dir, tmp_path / "server-out")
    port = server.port
    try:
        window = remote_window(server.url)
        service = window.service
        finished = []
        service.job_finished.connect(lambda result: finished.append(result))
        for seed in (100, 200):
            fast(window, prompt=f"kept {seed}", seed=seed, images=2, steps=40)
            window.generate()
        qtbot.waitUntil(lambda: service.last_progress is not None, timeout=WAIT_MS)  # the first one steps
        server.kill()
        qtbot.waitUntil(lambda: "stopped answering" in window.engine_label.text(), timeout=WAIT_MS)
        label = window.engine_label.text()
        assert f"The server at http://127.0.0.1:{port} stopped answering; your 2 waiting jobs" in label
        assert service.busy and service.pending == 1 and window.queue.list.count() == 2
        assert "left" not in window.status.stage_label.text()  # no time is known while it is away
        assert finished == [] and saved(tmp_path / "out") == []

        server = ServeProcess(prior_dir, decoder_dir, tmp_path / "server-out", port=port)
        qtbot.waitUntil(lambda: len(finished) == 2, timeout=3 * WAIT_MS)
        paths = [p for result in finished for p in result.paths]
        assert sorted(read_record(p).params.seed for p in paths) == [100, 101, 200, 201]
        assert sorted(saved(tmp_path / "out")) == sorted(paths)  # each once
        assert not service.busy and window.queue.list.count() == 0
    finally:
        server.kill()


def test_a_wrong_token_is_said_plainly(qtbot, remote_window, prior_dir, decoder_dir, tmp_path):
    data = tmp_path / "server-data"
    server = ServeProcess(prior_dir, decoder_dir, tmp_path / "server-out", host="0.0.0.0", data=data)
    try:
        token = (data / "Wuerstchen Desktop" / "server-token").read_text().strip()
        window = remote_window(server.url, token="not-the-token")
        qtbot.waitUntil(lambda: "refused the token" in window.engine_label.text(), timeout=WAIT_MS)
        fast(window)
        with qtbot.waitSignal(window.service.job_failed, timeout=WAIT_MS) as failed:
            window.generate()
        assert failed.args[0].message == (
            f"The server at {server.url} refused the token: set the one from its server-token file in "
            "Settings → Run on."
        )
        assert window.error_box is not None and "refused the token" in window.error_box.text()

        # The right token, saved in Settings: the next job runs.
        from wuerstchen_desktop.worker.remote_jobs import save_token

        save_token(token)
        window.apply_settings(window.settings)
        qtbot.waitUntil(lambda: window.engine_label.text().startswith("Ready"), timeout=WAIT_MS)
        with qtbot.waitSignal(window.service.job_finished, timeout=WAIT_MS):
            window.generate()
    finally:
        server.kill()


def test_run_on_switches_without_a_restart(qtbot, remote_window, prior_dir, decoder_dir, tmp_path):
    """This computer, then the server, then this computer again: each job runs where the settings say."""
    import dataclasses

    server = ServeProcess(prior_dir, decoder_dir, tmp_path / "server-out")
    try:
        window = remote_window(
            server.url, prior=str(prior_dir), decoder=str(decoder_dir), device="cpu", dtype="float32"
        )
        qtbot.waitUntil(lambda: window.engine_label.text().startswith("Ready · 127.0.0.1"), timeout=WAIT_MS)
        made = []
        for run_on, seed in (("local", 1), ("server", 2), ("local", 3)):
            window.apply_settings(dataclasses.replace(window.settings, run_on=run_on))
            assert window.service.on_server == (run_on == "server")
            fast(window, seed=seed)
            with qtbot.waitSignal(window.service.job_finished, timeout=WAIT_MS) as done:
                window.generate()
            made += done.args[0].paths
        assert [read_record(p).params.seed for p in made] == [1, 2, 3]
        assert [read_record(p).params.seed for p in saved(tmp_path / "server-out")] == [2]  # the server's
        ready = "Ready · CPU · float32 · high memory"  # this computer again, once its job has ended
        qtbot.waitUntil(lambda: window.engine_label.text() == ready, timeout=WAIT_MS)
    finally:
        server.kill()
