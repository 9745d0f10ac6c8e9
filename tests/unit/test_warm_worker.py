"""The app's warm-up on the real worker thread: it gives way to a job within one model call, and it writes
and reports nothing."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from tests.helpers.model_calls import CallLog
from tests.helpers.window import HARMLESS_QT_WARNINGS
from wuerstchen_desktop.core.params import GenerationParams

pytestmark = [pytest.mark.qt_log_level_fail("WARNING"), pytest.mark.qt_log_ignore(*HARMLESS_QT_WARNINGS)]
WAIT_MS = 120_000
PANEL = GenerationParams("", width=256, height=256, prior_steps=2, decoder_steps=1)


@pytest.fixture
def service(prior_dir: Path, decoder_dir: Path):
    from wuerstchen_desktop.core.jobs.job import EngineConfig
    from wuerstchen_desktop.worker.generation import GenerationService

    made = GenerationService(EngineConfig(str(prior_dir), str(decoder_dir), "cpu", "float32"))
    yield made
    made.shutdown()


def files_under(*roots: Path) -> dict[Path, tuple[int, int]]:
    return {p: (p.stat().st_size, p.stat().st_mtime_ns) for r in roots for p in r.rglob("*") if p.is_file()}


def test_a_job_submitted_during_the_warm_up_waits_for_one_model_call(
    qtbot, service, monkeypatch, tmp_path: Path
) -> None:
    from wuerstchen_desktop.core.jobs import runner
    from wuerstchen_desktop.core.jobs.job import Job

    calls = CallLog().install(monkeypatch)
    execute = runner.execute
    monkeypatch.setattr(runner, "execute", lambda *a, **k: calls.note("job") or execute(*a, **k))
    calls.hold("prior")  # the warm-up's first Stage C call waits until the job is in
    warmed: list[int] = []
    service.warmed.connect(warmed.append)
    service.warm_up(PANEL)
    qtbot.waitUntil(calls.entered.is_set, timeout=WAIT_MS)
    job = Job(params=PANEL.replace(prompt="a cat", seed=3), out_dir=tmp_path / "out")
    with qtbot.waitSignal(service.job_finished, timeout=WAIT_MS) as finished:
        service.submit(job)
        calls.release()
    # The Stage C call in progress ended, then the job ran: no other model call came between.
    held = calls.log.index("prior")
    assert calls.log[held + 1] == "job", calls.log
    assert "decoder" not in calls.log[:held] and "vqgan" not in calls.log[:held]
    assert warmed == [0]  # the warm-up gave up its sizes
    assert len(finished.args[0].paths) == 1 and finished.args[0].paths[0].is_file()


def test_closing_stops_the_warm_up_within_one_model_call(qtbot, service, monkeypatch) -> None:
    calls = CallLog().install(monkeypatch)
    calls.hold("prior")
    service.warm_up(PANEL)
    qtbot.waitUntil(calls.entered.is_set, timeout=WAIT_MS)
    # The held call ends once closing has told the worker to stop (shutdown blocks this thread), or, if it
    # never does, after a while: then the warm-up would go on to its next calls.
    stopping = service._worker.stop_warm_up

    def release_once_stopping() -> None:
        stopping.wait(30)
        calls.release()

    threading.Thread(target=release_once_stopping, daemon=True).start()
    assert service.shutdown(WAIT_MS)
    assert calls.log[calls.log.index("prior") :] == ["prior"]


def test_the_warm_up_runs_every_model_and_writes_and_reports_nothing(
    qtbot, service, monkeypatch, tmp_path: Path, tiny_root: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    calls = CallLog().install(monkeypatch)
    before = files_under(tmp_path, tiny_root)
    shown: list[object] = []
    for signal in (
        service.job_started,
        service.progress,
        service.job_progress,
        service.preview,
        service.job_finished,
        service.job_failed,
        service.job_cancelled,
        service.queue_changed,
    ):
        signal.connect(lambda *args: shown.append(args))
    with qtbot.waitSignal(service.warmed, timeout=WAIT_MS) as warmed:
        service.warm_up(PANEL)
    assert warmed.args == [2]  # the panel's 256x256 and the default 1024x1024
    assert [calls.count(s) for s in ("prior", "decoder", "vqgan")] == [2, 2, 2]
    assert shown == []
    assert files_under(tmp_path, tiny_root) == before
