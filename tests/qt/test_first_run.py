"""First run against a Hub on 127.0.0.1: the size and free space shown, the download with progress, then
the engine; or a folder the user already has."""

from __future__ import annotations

from pathlib import Path

from tests.helpers.window import fast

WAIT_MS = 60_000
PRIOR, DECODER = "warp-ai/wuerstchen-prior", "warp-ai/wuerstchen"


def test_first_run_downloads_then_generates(qtbot, make_window, hub) -> None:
    window = make_window(prior=PRIOR, decoder=DECODER)
    window.start_engine()
    qtbot.waitUntil(lambda: window.first_run is not None, timeout=WAIT_MS)
    dialog = window.first_run
    qtbot.waitUntil(dialog.download_button.isEnabled, timeout=WAIT_MS)
    assert "to download" in dialog.message.text() and "Free space" in dialog.message.text()
    assert not dialog.isModal()
    reports: list = []
    window.downloads.worker.progress.connect(reports.append)
    with (
        qtbot.waitSignal(dialog.ready, timeout=WAIT_MS),
        qtbot.waitSignal(window.service.engine_ready, timeout=WAIT_MS),
    ):
        dialog.download_button.click()
    assert reports and reports[-1].done == reports[-1].total
    assert "decoder/diffusion_pytorch_model.bin" not in hub.gets
    # The prompt's token count appears once the tokenizer is on disk, not only at the next start.
    window.panel.prompt.setPlainText("a lighthouse")
    qtbot.waitUntil(lambda: window.panel.token_label.isVisible(), timeout=WAIT_MS)
    assert window.panel.token_label.text().endswith("/ 77 tokens")
    fast(window)
    with qtbot.waitSignal(window.service.job_finished, timeout=WAIT_MS):
        window.generate()


def test_use_a_folder_i_already_have(qtbot, make_window, hub, prior_dir: Path, decoder_dir: Path) -> None:
    window = make_window(prior=PRIOR, decoder=DECODER)
    window.start_engine()
    qtbot.waitUntil(lambda: window.first_run is not None, timeout=WAIT_MS)
    window.first_run.use_folder(prior_dir)
    qtbot.waitUntil(lambda: window.settings.prior == str(prior_dir), timeout=WAIT_MS)
    # The decoder is still missing: the dialog asks again, for it alone.
    qtbot.waitUntil(
        lambda: window.first_run is not None and window.first_run.repos == [DECODER], timeout=WAIT_MS
    )
    with qtbot.waitSignal(window.service.engine_ready, timeout=WAIT_MS):
        window.first_run.use_folder(decoder_dir)
    assert window.settings.decoder == str(decoder_dir)
    assert hub.sent == {}  # nothing was downloaded


def test_a_folder_that_is_not_a_checkpoint_is_refused(qtbot, make_window, hub, tmp_path: Path) -> None:
    window = make_window(prior=PRIOR, decoder=DECODER)
    window.start_engine()
    qtbot.waitUntil(lambda: window.first_run is not None, timeout=WAIT_MS)
    (tmp_path / "holiday-photos").mkdir()
    window.first_run.use_folder(tmp_path / "holiday-photos")
    qtbot.waitUntil(
        lambda: "holds no Würstchen checkpoints" in window.first_run.message.text(), timeout=WAIT_MS
    )
    assert window.settings.prior == PRIOR


def test_offline_with_nothing_on_disk_offers_a_folder(qtbot, make_window, hub) -> None:
    from wuerstchen_desktop.core.settings import Settings

    window = make_window(prior=PRIOR, decoder=DECODER)
    window.settings = Settings(prior=PRIOR, decoder=DECODER, offline=True, output_dir=window.out_dir)
    window.start_engine()
    qtbot.waitUntil(lambda: window.first_run is not None, timeout=WAIT_MS)
    qtbot.waitUntil(lambda: "offline" in window.first_run.message.text(), timeout=WAIT_MS)
    assert window.first_run.folder_button.isEnabled() and not window.first_run.download_button.isEnabled()
    message = window.first_run.message
    assert message.height() >= message.heightForWidth(message.width())  # the whole message shows
    assert hub.log == []


def test_files_on_disk_start_the_engine_without_a_dialog(qtbot, make_window) -> None:
    window = make_window()
    with qtbot.waitSignal(window.service.engine_ready, timeout=WAIT_MS):
        window.start_engine()
    assert window.first_run is None


BIG = "decoder/diffusion_pytorch_model.safetensors"


def test_a_server_asking_to_wait_is_said_in_the_dialog(qtbot, make_window, hub, monkeypatch) -> None:
    from wuerstchen_desktop.worker import downloads

    # Only a change of phase gets through now: the single "waiting" report must be one of them.
    monkeypatch.setattr(downloads, "PROGRESS_INTERVAL_S", 3600.0)
    hub.faults.retry_after[BIG] = ["40"]
    window = make_window(prior=PRIOR, decoder=DECODER)
    window.start_engine()
    qtbot.waitUntil(lambda: window.first_run is not None, timeout=WAIT_MS)
    dialog = window.first_run
    qtbot.waitUntil(dialog.download_button.isEnabled, timeout=WAIT_MS)
    dialog.download_button.click()
    qtbot.waitUntil(lambda: "asks to wait 40 s" in dialog.detail.text(), timeout=WAIT_MS)
    assert "429" in dialog.detail.text() and dialog.progress.maximum() == 0  # a busy bar, not a frozen one
    for label in (dialog.message, dialog.detail):  # both show in full: the dialog grew to fit
        qtbot.waitUntil(lambda label=label: label.height() >= label.heightForWidth(label.width()))
    dialog.cancel_button.click()  # the wait ends at once
    qtbot.waitUntil(lambda: "Download cancelled" in dialog.message.text(), timeout=WAIT_MS)
    assert [m for m, path, _ in hub.log if m == "HEAD" and path.endswith("/" + BIG)] == ["HEAD"]


def test_files_no_hash_can_check_are_said_after_the_download(qtbot, make_window, hub) -> None:
    hub.faults.weak_etags = True
    hub.faults.listing_hashes = False
    window = make_window(prior=PRIOR, decoder=DECODER)
    window.start_engine()
    qtbot.waitUntil(lambda: window.first_run is not None, timeout=WAIT_MS)
    dialog = window.first_run
    qtbot.waitUntil(dialog.download_button.isEnabled, timeout=WAIT_MS)
    with (
        qtbot.waitSignal(dialog.ready, timeout=WAIT_MS),
        qtbot.waitSignal(window.service.engine_ready, timeout=WAIT_MS),
    ):
        dialog.download_button.click()
    text = dialog.message.text()
    assert text.startswith("The model files are ready.") and "could not be verified" in text
    assert DECODER in text and PRIOR in text
    assert dialog.isVisible() and dialog.close_button.isVisible()  # stays until the user has read it
    dialog.close_button.click()
    assert not dialog.isVisible()


def test_cancel_while_planning_against_a_busy_server(qtbot, make_window, hub) -> None:
    hub.faults.status[PRIOR] = 503  # every listing fails: the plan waits 1, 2, 4 s between tries
    window = make_window(prior=PRIOR, decoder=DECODER)
    window.start_engine()
    qtbot.waitUntil(lambda: window.first_run is not None, timeout=WAIT_MS)
    dialog = window.first_run

    def listings() -> int:
        return sum(1 for m, path, _ in hub.log if m == "GET" and path.startswith(f"/api/models/{PRIOR}"))

    qtbot.waitUntil(lambda: listings() == 1, timeout=WAIT_MS)
    assert dialog.cancel_button.isVisible()
    dialog.cancel_button.click()
    qtbot.waitUntil(lambda: "Stopped asking the server" in dialog.message.text(), timeout=WAIT_MS)
    assert listings() == 1  # stopped in the first wait, not after four tries
    # The server is back: "Retry" asks it again.
    hub.faults.status.clear()
    assert dialog.download_button.text() == "Retry"
    dialog.download_button.click()
    qtbot.waitUntil(lambda: "to download" in dialog.message.text(), timeout=WAIT_MS)
    assert dialog.download_button.isEnabled() and not dialog.cancel_button.isVisible()
