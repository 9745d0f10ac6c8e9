"""One progress bar for the whole job, through the real worker on tiny checkpoints."""

from __future__ import annotations

from tests.helpers.window import WAIT_MS


def slow_decoder(window, prior_steps: int = 4, decoder_steps: int = 3) -> None:
    """A job whose Stage B has fewer steps than Stage C: a bar per stage would run back at Stage B."""
    from wuerstchen_desktop.core.params import GenerationParams

    p = GenerationParams("a cat", width=256, height=256, seed=3, prior_steps=prior_steps)
    window.panel.set_params(p.replace(decoder_steps=decoder_steps))


def test_one_bar_for_the_whole_job_never_going_back(qtbot, make_window) -> None:
    window = make_window()
    slow_decoder(window)
    bar = window.progress
    seen: list[tuple[str, float, str]] = []

    def look(job_id: int, stage: str, step: int, total: int, left: float) -> None:
        share = bar.value() / bar.maximum() if bar.maximum() > 0 else 0.0
        seen.append((stage, share, window.engine_label.text()))

    window.service.progress.connect(look)
    ended: list[float] = []
    window.service.job_finished.connect(lambda _r: ended.append(bar.value() / bar.maximum()))
    with qtbot.waitSignal(window.service.job_finished, timeout=WAIT_MS):
        window.generate()  # the engine loads inside this job: it was not warmed up
    shares = [share for _stage, share, _engine in seen]
    assert shares == sorted(shares)  # one bar, never going back between stages
    assert all(share < 1.0 for stage, share, _e in seen if stage != "vqgan")
    assert ended == [1.0]
    assert [engine for *_x, engine in seen if engine.startswith("Ready")] == []  # never "Ready" meanwhile
    qtbot.waitUntil(lambda: window.engine_label.text().startswith("Ready"))  # and again once it is done


def test_every_previewed_step_is_reported_and_the_caption_agrees(qtbot, make_window) -> None:
    window = make_window()
    slow_decoder(window, prior_steps=12, decoder_steps=1)
    reported: list[int] = []
    previewed: list[int] = []
    window.service.progress.connect(
        lambda _j, stage, step, _t, _l: reported.append(step) if stage == "prior" else None
    )
    window.service.preview.connect(lambda p: previewed.append(p.step))
    with qtbot.waitSignal(window.service.job_finished, timeout=WAIT_MS):
        window.generate()
    assert previewed and set(previewed) <= set(reported)


def test_the_status_says_the_step_and_time_left_for_job_and_queue(qtbot, make_window) -> None:
    window = make_window()
    slow_decoder(window, prior_steps=6, decoder_steps=2)
    window.generate()
    window.generate()  # a second job waits: the queue's time is said too
    texts: list[str] = []
    window.service.job_progress.connect(lambda p: texts.append(window.status.stage_label.text()))
    qtbot.waitUntil(lambda: window.service.pending == 0, timeout=WAIT_MS)
    first = [t for t in texts if "queue" in t]
    assert first and all("about" in t and " left" in t for t in first)
    assert any(t.startswith("Composing · step ") for t in texts)
    qtbot.waitUntil(lambda: not window.service.busy, timeout=WAIT_MS)
    assert any(t.startswith("Decoding · step ") and "queue" not in t for t in texts)


def test_a_job_that_cannot_load_the_new_engine_never_leaves_ready_behind(
    qtbot, make_window, tmp_path
) -> None:
    from wuerstchen_desktop.core.jobs.job import EngineConfig

    window = make_window()
    slow_decoder(window, prior_steps=2, decoder_steps=1)
    with qtbot.waitSignal(window.service.job_finished, timeout=WAIT_MS):
        window.generate()
    qtbot.waitUntil(lambda: window.engine_label.text().startswith("Ready"))
    decoder = window.settings.decoder
    window.service.reconfigure(EngineConfig(str(tmp_path / "gone"), decoder, "cpu", "float32"))
    with qtbot.waitSignal(window.service.job_failed, timeout=WAIT_MS):
        window.generate()
    qtbot.waitUntil(lambda: not window.service.busy)
    assert not window.engine_label.text().startswith("Ready")  # the old engine is gone
