"""Closing the window: idle, no thread outlives it; during a job it says so and goes once the job stops."""

from __future__ import annotations

from tests.helpers.window import WAIT_MS, fast


def threads_finished(window) -> bool:
    return all(
        t.isFinished() for t in (window.service._thread, window.history._thread, window.downloads._thread)
    )


def test_closing_when_idle_hides_the_window_and_ends_every_thread(qtbot, make_window) -> None:
    window = make_window()
    fast(window)
    with qtbot.waitSignal(window.service.job_finished, timeout=WAIT_MS):
        window.generate()
    assert window.close()
    assert not window.isVisible()
    assert threads_finished(window)


def test_closing_during_a_job_says_cancelling_then_goes(qtbot, make_window) -> None:
    window = make_window()
    fast(window, steps=200)
    with qtbot.waitSignal(window.service.job_started, timeout=WAIT_MS):
        window.generate()
    window.close()
    # The window stays, saying why, while the job stops at its step's end; nothing blocks the GUI thread.
    assert window.isVisible() and window.engine_label.text() == "Cancelling…"
    assert not window.service._thread.isFinished()
    with qtbot.waitSignal(window.service.job_cancelled, timeout=WAIT_MS):
        pass
    qtbot.waitUntil(lambda: not window.isVisible(), timeout=WAIT_MS)
    assert threads_finished(window)
    assert window.gallery.count() == 0  # cancelled: no image


def test_closing_during_a_download_ends_the_download_thread(qtbot, make_window, hub) -> None:
    big = "decoder/diffusion_pytorch_model.safetensors"
    hub.faults.stall[big] = 1000  # the server sends a little of the file, then nothing
    window = make_window(prior="warp-ai/wuerstchen-prior", decoder="warp-ai/wuerstchen")
    window.start_engine()
    qtbot.waitUntil(lambda: window.first_run is not None, timeout=WAIT_MS)
    qtbot.waitUntil(window.first_run.download_button.isEnabled, timeout=WAIT_MS)
    window.first_run.download_button.click()
    qtbot.waitUntil(lambda: big in hub.gets, timeout=WAIT_MS)  # the stalled file is being fetched
    assert window.close()
    assert not window.isVisible() and threads_finished(window)
