"""Settings → Run on: a server's address and token (kept in an owner-only file, not the settings file), and
"Test connection", which asks the server without holding the window and says what it found."""

from __future__ import annotations

import os
import socket
import stat
from pathlib import Path

import pytest
from PySide6.QtCore import QSettings

from tests.helpers.serve import running_server
from wuerstchen_desktop.core.settings import Settings
from wuerstchen_desktop.ui.settings_dialog import SettingsDialog, SettingsStore

TOKEN = "a-token-long-enough-to-be-one"


@pytest.fixture
def token_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    from wuerstchen_desktop.core import appdirs

    path = tmp_path / "data" / "client-token"
    monkeypatch.setattr(appdirs, "client_token_file", lambda: path)
    return path


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_run_on_a_server_with_its_token_and_test_connection(
    qtbot, token_file, prior_dir, decoder_dir, tmp_path
) -> None:
    dialog = SettingsDialog(Settings(output_dir=tmp_path / "out"))
    qtbot.addWidget(dialog)
    assert not dialog.server_url.isEnabled() and not dialog.test_button.isEnabled()
    dialog.combos["run_on"].setCurrentIndex(dialog.combos["run_on"].findData("server"))
    assert dialog.server_url.isEnabled() and dialog.token.isEnabled() and dialog.test_button.isEnabled()
    assert dialog.token.echoMode() == dialog.token.EchoMode.Password

    def tested(address: str, token: str) -> str:
        dialog.server_url.setText(address)
        dialog.token.setText(token)
        dialog.test_button.click()
        assert dialog.test_result.text().startswith("Asking ")  # the click is back before the answer
        qtbot.waitUntil(lambda: dialog.test_button.isEnabled(), timeout=60_000)
        return dialog.test_result.text()

    gone = f"http://127.0.0.1:{closed_port()}"
    assert tested(gone, "").startswith(f"Nothing answers at {gone} (")
    with running_server(prior_dir, decoder_dir, tmp_path / "server-out", token=TOKEN) as server:
        url = f"http://127.0.0.1:{server.port}"
        assert tested(url, "wrong") == (
            f"The server at {url} refused the token: set the one from its server-token file in Settings → "
            "Run on."
        )
        assert tested(url + "/", TOKEN) == (
            f"Connected: the server at {url} accepted the token and runs wuerstchen-prior with "
            f"{decoder_dir} on cpu · float32."
        )
    dialog.server_url.setText("ftp://studio")
    dialog.test_button.click()
    assert dialog.test_result.text() == "Type the server's address: http://host:port or https://host:port."
    dialog.server_url.setText(url + "/")
    dialog.accept()
    chosen = dialog.settings()
    assert (chosen.run_on, chosen.server_url) == ("server", url)
    assert token_file.read_text().strip() == TOKEN
    if os.name == "posix":
        assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    store = SettingsStore(QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat))
    store.save(chosen)
    assert TOKEN not in (tmp_path / "settings.ini").read_text()  # never in the settings file
    assert store.load() == (chosen, [])


def test_a_token_left_unchanged_is_not_written(qtbot, token_file, tmp_path) -> None:
    dialog = SettingsDialog(Settings(output_dir=tmp_path / "out"))
    qtbot.addWidget(dialog)
    dialog.accept()
    assert not token_file.exists()
    token_file.parent.mkdir(parents=True)
    token_file.write_text("kept\n")
    again = SettingsDialog(Settings(output_dir=tmp_path / "out"))
    qtbot.addWidget(again)
    assert again.token.text() == "kept"
    again.token.clear()
    again.accept()
    assert not token_file.exists()  # emptied on purpose: gone


def test_a_bad_address_keeps_the_dialog_open(qtbot, token_file, tmp_path) -> None:
    dialog = SettingsDialog(Settings(output_dir=tmp_path / "out"))
    qtbot.addWidget(dialog)
    dialog.server_url.setText("studio-pc:7861")
    dialog.accept()
    assert dialog.result() == 0 and "http://host:port" in dialog.test_result.text()
