"""What the server's worker thread does with a request: each of its jobs through the one job runner, the
files written to the output folder as ``generate`` writes them, the progress and the live preview kept
for ``/progress``. The pipeline is built before the server starts (its files checked); its weights load
on the first job and stay loaded."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from wuerstchen_desktop.core.errors import Cancelled
from wuerstchen_desktop.core.imagefile.record import ImageRecord
from wuerstchen_desktop.core.jobs.job import Job, JobKind
from wuerstchen_desktop.core.params import GenerationParams
from wuerstchen_desktop.server.jobqueue import progress_of

if TYPE_CHECKING:
    from wuerstchen_desktop.core.engine.pipeline import Pipeline
    from wuerstchen_desktop.core.engine.progress import StepEvent
    from wuerstchen_desktop.server.jobqueue import JobQueue, Request

log = logging.getLogger(__name__)

STAGE_ORDER = ("prior", "decoder", "vqgan")
NAME_PATTERN = "{date}/{time}-{seed}-{slug}"


@dataclass(frozen=True)
class Made:
    """One file a request wrote, without its pixels: answers read the file itself, as a client gets it."""

    path: Path
    record: ImageRecord


@dataclass
class Outcome:
    """What a request made: every file saved (even when interrupted), and the notes to pass on."""

    saved: list[Made] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    interrupted: bool = False


class Engine:
    """Runs requests with one pipeline, writing PNGs under ``out_dir``."""

    def __init__(self, pipe: Pipeline, out_dir: Path) -> None:
        self.pipe = pipe
        self.out_dir = out_dir
        self.model_hash: str | None = None  # the prior's, once the first image has named it
        # Called on the worker thread after each step, once the progress is updated.
        self.step_listeners: list[Callable[[StepEvent], None]] = []

    def jobs(self, runs: list[GenerationParams]) -> list[Job]:
        return [Job(p, self.out_dir, "png", NAME_PATTERN, kind=JobKind.GENERATE) for p in runs]

    def __call__(self, request: Request, queue: JobQueue) -> Outcome:
        from wuerstchen_desktop.core.jobs.runner import execute

        outcome = Outcome()
        for number, job in enumerate(request.jobs):
            if request.cancel.is_set():
                outcome.interrupted = True
                break
            queue.update(job_no=number, sampling_step=0, sampling_steps=0, stage="", stage_no=0)
            try:
                _, warnings = execute(
                    self.pipe,
                    job,
                    self._reporter(queue),
                    request.cancel.is_set,
                    on_saved=lambda s: outcome.saved.append(Made(s.path, s.record)),
                )
            except Cancelled:
                outcome.interrupted = True
                break
            outcome.warnings += [w for w in warnings if w not in outcome.warnings]
        if outcome.saved and self.model_hash is None:
            self.model_hash = outcome.saved[0].record.model_hash
        return outcome

    def _reporter(self, queue: JobQueue) -> Callable[[StepEvent], None]:
        def report(event: StepEvent) -> None:
            stage_no = STAGE_ORDER.index(event.stage) if event.stage in STAGE_ORDER else 0
            changes: dict[str, object] = {
                "stage": event.stage,
                "stage_no": stage_no,
                "sampling_step": event.step,
                "sampling_steps": event.total,
            }
            preview = None
            if event.denoised is not None and event.stage == "prior":
                preview = self._preview(event)
                if preview is not None:
                    changes["preview"] = preview
            queue.update(**changes)
            state = queue.state()
            done, eta = progress_of(state)
            step = {"stage": event.stage, "step": event.step, "total": event.total, "job_no": state.job_no}
            queue.emit({**step, "progress": done, "eta": eta, **({"preview": preview} if preview else {})})
            for listener in self.step_listeners:
                listener(event)

        return report

    def _preview(self, event: StepEvent) -> tuple[int, int, bytes] | None:
        """The first image's live preview, as the window shows it; a preview never fails a job."""
        assert event.denoised is not None
        try:
            from wuerstchen_desktop.core.engine.live_preview import render_previews

            pixels = self.pipe.preview(event.denoised[:1])
            _, _, h, w = pixels.shape
            return w, h, render_previews(pixels)[0]
        except Exception:
            log.warning("no live preview", exc_info=True)
            return None
