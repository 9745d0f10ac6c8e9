"""Before any model work, a job's parameters are checked against what its files can carry; what had to be
left out or shortened is said to the person, not only logged. Real window, real worker thread, real tiny
pipeline."""

from __future__ import annotations

import dataclasses

import pytest

from tests.helpers.window import fast
from wuerstchen_desktop.core.imagefile.read import read_record

WAIT_MS = 60_000
LONG = ", ".join(["a castle on a hill"] * 2000)  # 40,000 characters: beyond one JPEG EXIF segment


def use_format(window, fmt: str) -> None:
    window.settings = dataclasses.replace(window.settings, image_format=fmt)


def test_a_jpeg_job_with_a_long_prompt_says_so_and_saves(qtbot, make_window) -> None:
    window = make_window()
    use_format(window, "jpeg")
    fast(window, prompt=LONG)
    with qtbot.waitSignal(window.service.job_finished, timeout=WAIT_MS) as done:
        window.generate()
    (path,) = done.args[0].paths
    assert path.suffix == ".jpg" and read_record(path).params.prompt == LONG  # the record keeps it whole
    assert any("too long for a JPEG" in w for w in done.args[0].warnings)
    # Said first, where the status bar has room, before the long note on the prompt's left-out words.
    message = window.statusBar().currentMessage()
    assert message.split(". ", 1)[1].startswith("The prompts are too long for a JPEG's EXIF text")
    assert "left out" in message


def test_metadata_left_out_of_a_saved_image_is_said(qtbot, make_window, monkeypatch) -> None:
    from wuerstchen_desktop.core.imagefile import write

    real = write._exif  # an EXIF block too big for a JPEG: the text has to go, the image stays
    monkeypatch.setattr(write, "_exif", lambda text, record: real(text, record) + b"\0" * 70_000)
    window = make_window()
    use_format(window, "jpeg")
    fast(window, images=2)
    with qtbot.waitSignal(window.service.job_finished, timeout=WAIT_MS) as done:
        window.generate()
    assert len(done.args[0].paths) == 2
    said = [w for w in done.args[0].warnings if "could not all be embedded" in w]
    assert len(said) == 1 and "only its exact record" in said[0]  # once for the job, not once per image
    assert "could not all be embedded" in window.statusBar().currentMessage()


@pytest.fixture
def stages_run(monkeypatch) -> list[str]:
    """The recipe's entry points, counted as they are called."""
    from wuerstchen_desktop.core.engine import recipe

    ran: list[str] = []
    for name in ("compose_latents", "decode_latents"):
        real = getattr(recipe, name)

        def counted(*args, _real=real, _name=name, **kwargs):
            ran.append(_name)
            return _real(*args, **kwargs)

        monkeypatch.setattr(recipe, name, counted)
    return ran


@pytest.mark.parametrize("kind", ["generate", "compose"])
def test_a_record_too_long_to_read_back_fails_before_any_stage(
    qtbot, make_window, stages_run: list[str], kind: str
) -> None:
    window = make_window()
    # the engine loaded and its warm-up over: what the warm-up ran is not the job's work
    with qtbot.waitSignals([window.service.engine_ready, window.service.warmed], timeout=WAIT_MS):
        window.start_engine()
    stages_run.clear()
    fast(window, prompt="🐱" * 400_000)  # 4.8 MB of record: beyond what the reader accepts
    steps: list[tuple] = []
    window.service.progress.connect(lambda *a: steps.append(a))
    with qtbot.waitSignal(window.service.job_failed, timeout=WAIT_MS) as failed:
        window.generate() if kind == "generate" else window.flow.compose()
    assert "too long to be saved with the images" in failed.args[0].message
    assert stages_run == [] and steps == []  # nothing was computed
    assert not list(window.out_dir.rglob("*.png"))
    qtbot.waitUntil(lambda: window.error_box is not None and window.error_box.isVisible(), timeout=WAIT_MS)
    assert "too long to be saved" in window.error_box.text()


@pytest.mark.parametrize("kind", ["generate", "compose"])
def test_an_output_folder_that_became_unusable_fails_before_any_stage(
    qtbot, make_window, stages_run: list[str], kind: str
) -> None:
    """The folder was fine at start (a disk unplugged, a folder replaced since): the job says so at once
    instead of after minutes of work."""
    window = make_window()
    # the engine loaded and its warm-up over: what the warm-up ran is not the job's work
    with qtbot.waitSignals([window.service.engine_ready, window.service.warmed], timeout=WAIT_MS):
        window.start_engine()
    stages_run.clear()
    fast(window)
    window.out_dir.rmdir() if window.out_dir.is_dir() else None
    window.out_dir.write_bytes(b"not a folder")
    with qtbot.waitSignal(window.service.job_failed, timeout=WAIT_MS) as failed:
        window.generate() if kind == "generate" else window.flow.compose()
    assert f"The output folder {window.out_dir} is a file, not a folder." in failed.args[0].message
    assert stages_run == []
