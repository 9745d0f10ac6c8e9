"""The first-run dialog never dead-ends: no network is said plainly with Retry and the folder way; offline
mode is turned off from the dialog; one folder holding both models is used in one step; the dialog says
which models it needs and sits centred on the window."""

from __future__ import annotations

import socket
from pathlib import Path

from tests.helpers.window import WAIT_MS

PRIOR, DECODER = "warp-ai/wuerstchen-prior", "warp-ai/wuerstchen"


def closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"  # nothing listens there now: connections are refused


def open_dialog(qtbot, window):
    window.start_engine()
    qtbot.waitUntil(lambda: window.first_run is not None, timeout=WAIT_MS)
    return window.first_run


def test_no_network_is_said_plainly_with_retry_and_the_folder_way(
    qtbot, make_window, hub, monkeypatch
) -> None:
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "ENDPOINT", closed_port_url())
    window = make_window(prior=PRIOR, decoder=DECODER)
    dialog = open_dialog(qtbot, window)
    qtbot.waitUntil(lambda: "cannot reach the server" in dialog.message.text(), timeout=WAIT_MS)
    text = dialog.message.text()
    assert "ConnectError" not in text and "Errno" not in text and "--prior" not in text
    assert "the prior (a copy of warp-ai/wuerstchen-prior)" in text and "the decoder" in text
    assert dialog.download_button.text() == "Retry" and dialog.download_button.isEnabled()
    assert dialog.folder_button.isEnabled() and dialog.folder_button.isVisible()
    # The network is back: Retry asks again and offers the download.
    monkeypatch.setattr(constants, "ENDPOINT", hub.url)
    dialog.download_button.click()
    qtbot.waitUntil(lambda: "to download" in dialog.message.text(), timeout=WAIT_MS)
    assert dialog.download_button.text() == "Download" and dialog.download_button.isEnabled()


def test_offline_mode_is_turned_off_in_the_dialog(qtbot, make_window, hub) -> None:
    import dataclasses

    window = make_window(prior=PRIOR, decoder=DECODER)
    window.settings = dataclasses.replace(window.settings, offline=True)
    dialog = open_dialog(qtbot, window)
    qtbot.waitUntil(lambda: "set to work offline" in dialog.message.text(), timeout=WAIT_MS)
    assert "HF_HUB_OFFLINE" not in dialog.message.text()
    assert dialog.online_button.isVisible()
    dialog.online_button.click()
    assert not window.settings.offline
    qtbot.waitUntil(lambda: window.first_run is not dialog, timeout=WAIT_MS)
    qtbot.waitUntil(lambda: "to download" in window.first_run.message.text(), timeout=WAIT_MS)
    assert not window.first_run.online_button.isVisible()


def test_one_folder_holding_both_models_is_used_in_one_step(
    qtbot, make_window, hub, prior_dir: Path, decoder_dir: Path, tmp_path: Path
) -> None:
    parent = tmp_path / "models from my other computer"
    parent.mkdir()
    (parent / "notes").mkdir()  # not a checkpoint: passed over
    (parent / "a").symlink_to(decoder_dir, target_is_directory=True)
    (parent / "b").symlink_to(prior_dir, target_is_directory=True)
    window = make_window(prior=PRIOR, decoder=DECODER)
    dialog = open_dialog(qtbot, window)
    with qtbot.waitSignal(window.service.engine_ready, timeout=WAIT_MS):
        dialog.use_folder(parent)
    assert (window.settings.prior, window.settings.decoder) == (str(parent / "b"), str(parent / "a"))
    assert hub.sent == {}
    assert window.first_run is None or not window.first_run.isVisible()


def test_the_dialog_is_centred_on_the_window(qtbot, make_window, hub) -> None:
    window = make_window(prior=PRIOR, decoder=DECODER)
    window.resize(1200, 800)
    dialog = open_dialog(qtbot, window)
    qtbot.waitUntil(dialog.download_button.isEnabled, timeout=WAIT_MS)
    dialog.say("A long message. " * 40)  # the dialog grows: it stays centred
    qtbot.waitUntil(lambda: dialog.isVisible())
    delta = dialog.frameGeometry().center() - window.frameGeometry().center()
    assert abs(delta.x()) <= 2 and abs(delta.y()) <= 2, delta


def test_a_server_error_names_the_windows_folder_way_not_the_command_lines(qtbot, make_window, hub) -> None:
    hub.faults.status[PRIOR] = 404
    window = make_window(prior=PRIOR, decoder=DECODER)
    dialog = open_dialog(qtbot, window)
    qtbot.waitUntil(lambda: "was not found on the server" in dialog.message.text(), timeout=WAIT_MS)
    assert "--prior" not in dialog.message.text()
    assert "Or use folders you already have (the button below)." in dialog.message.text()
