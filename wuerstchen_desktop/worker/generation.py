"""The generation worker (on its own QThread) and the service the window talks to (on the GUI thread).

The worker owns the pipeline. torch and transformers are imported there, on first use, so the window
is up before they load. Cancellation is a ``threading.Event`` the pipeline checks between steps, so it
takes effect within one step even while the worker thread is busy.
"""

from __future__ import annotations

import dataclasses
import gc
import logging
import threading
import time
import traceback
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, QThread, Signal, Slot

from wuerstchen_desktop.core.errors import Cancelled, OfflineError, WuerstchenError
from wuerstchen_desktop.core.jobs.estimate import JobProgress, JobTracker, StageCosts
from wuerstchen_desktop.core.jobs.job import EngineConfig, Job, JobError, JobResult, Preview

if TYPE_CHECKING:
    from wuerstchen_desktop.core.engine.pipeline import Pipeline
    from wuerstchen_desktop.core.engine.progress import StepEvent
    from wuerstchen_desktop.core.params import GenerationParams

log = logging.getLogger(__name__)

PROGRESS_INTERVAL_S = 0.05  # at most 20 progress signals a second reach the GUI thread


class GenerationWorker(QObject):
    """Runs one job at a time on the worker thread. Create it, move it to a QThread, call via signals."""

    engine_status = Signal(str)  # "Loading models…", "Ready · CPU · float32 · high memory"
    engine_failed = Signal(str)
    engine_ready = Signal(str, str)  # "CPU · float32 · high memory", and why auto chose it
    job_started = Signal(int)
    progress = Signal(int, str, int, int, float)  # job id, stage, step, total, seconds left (-1: unknown)
    job_progress = Signal(object)  # JobProgress: the whole job, its stages weighted by their cost
    job_finished = Signal(object)  # JobResult
    job_failed = Signal(object)  # JobError
    job_cancelled = Signal(int)
    preview = Signal(object)  # Preview
    warmed = Signal(int)  # the warm-up after loading is over: how many sizes it warmed

    def __init__(self, config: EngineConfig) -> None:
        super().__init__()
        self.config = config
        self._pipeline: Pipeline | None = None
        self._loaded: EngineConfig | None = None  # what it was built from: a job may ask for another prior
        self._description = ""  # device, precision and memory mode of the loaded engine
        self._costs = StageCosts()  # what a step of each stage costs here, timed as jobs run
        self._busy = False
        # Set by the service (on the GUI thread) when it hands over a job or shuts down: a warm-up stops at
        # the next model call. A job clears it.
        self.stop_warm_up = threading.Event()

    def _ensure_pipeline(self, prior: str | None = None) -> Pipeline:
        c = self.config if prior is None else dataclasses.replace(self.config, prior=prior)
        if self._pipeline is not None and self._loaded != c:
            self._pipeline = None  # the other prior's models go before these load
            gc.collect()
        if self._pipeline is None:
            self.engine_status.emit(self.tr("Loading the engine…"))
            from wuerstchen_desktop.core.engine.build import build_pipeline
            from wuerstchen_desktop.core.engine.checkpoints import decoder_source, prior_source

            pipe, choice = build_pipeline(
                # Never downloads here: missing files go through the first-run dialog, which shows the size.
                prior_source(c.prior, offline=True, cache_dir=c.models_dir),
                decoder_source(c.decoder, offline=True, cache_dir=c.models_dir),
                c.device,
                c.dtype,
                c.memory,
                c.compile,
            )
            pipe.previewer_path = self._previewer()
            self._pipeline, self._loaded = pipe, c
            self._description = choice.summary()
            self._say_engine()
            self.engine_ready.emit(choice.summary(), "; ".join(choice.reasons))
        return self._pipeline

    def _say_engine(self) -> None:
        """The engine's line in the status bar: never "Ready" while a job runs."""
        if self._description:
            text = self.tr("Working · {0}") if self._busy else self.tr("Ready · {0}")
            self.engine_status.emit(text.format(self._description))

    def _previewer(self) -> Path | None:
        """The converted previewer network, when it was downloaded; else previews are approximate."""
        from wuerstchen_desktop.core.engine.live_preview import find_previewer

        try:
            return find_previewer(cache_dir=self.config.models_dir)
        except Exception as exc:  # an optional extra: whatever is wrong with it, generation goes on
            log.warning(
                "live previews will be approximate: %s", exc, exc_info=not isinstance(exc, WuerstchenError)
            )
            return None

    @Slot()
    def refresh_previewer(self) -> None:
        """The previewer was just downloaded: use it from the next preview on."""
        if self._pipeline is not None:
            self._pipeline.previewer_path = self._previewer()

    @Slot(object)
    def configure(self, config: EngineConfig) -> None:
        """Use other checkpoints or another device from the next job on; the old models are freed."""
        if config == self.config:
            return
        self.config = config
        self._pipeline = None
        self._description = ""  # no engine is ready until the new one loads
        gc.collect()
        self.engine_status.emit(self.tr("Settings changed: the engine reloads for the next job"))

    @Slot(object)
    def prepare(self, likely: GenerationParams | None = None) -> None:
        """Import torch and load the models ahead of the first job, so it starts at once; then warm them
        up at ``likely``'s size and the default one, unless a job is already waiting."""
        try:
            pipe = self._ensure_pipeline()
            pipe.load()
            self._say_engine()
            self._warm_up(pipe, likely)
        except WuerstchenError as exc:
            log.warning("engine not ready: %s", exc)
            self.engine_failed.emit(str(exc))
        except Exception as exc:  # reported, never fatal: the window stays usable
            log.exception("engine failed to start")
            self.engine_failed.emit(self.tr("The engine could not start: {0}").format(exc))

    def _warm_up(self, pipe: Pipeline, likely: GenerationParams | None) -> None:
        from wuerstchen_desktop.core.engine.warmup import likely_jobs, warm_up

        warmed = 0
        if not self.stop_warm_up.is_set():
            try:
                warmed = warm_up(pipe, likely_jobs(likely), self.stop_warm_up.is_set)
            except Exception:  # only time is lost: the first job pays what the warm-up would have
                log.warning("the warm-up failed", exc_info=True)
        self.warmed.emit(warmed)

    @Slot(object)
    def run_job(self, job: Job) -> None:
        self.stop_warm_up.clear()
        self._busy = True
        self.job_started.emit(job.id)
        self._say_engine()
        try:
            self._run(job)
        finally:
            self._busy = False
            self._say_engine()

    def _run(self, job: Job) -> None:
        started = time.monotonic()
        try:
            if job.cancel.is_set():
                raise Cancelled()
            pipe = self._ensure_pipeline(job.prior)
            from wuerstchen_desktop.core.jobs.runner import execute

            tracker = JobTracker(job, self._costs, time.monotonic())
            on_step = self._progress_reporter(pipe, job, tracker)
            paths, warnings = execute(pipe, job, on_step, job.cancel.is_set)
            tracker.finish(time.monotonic())
            seconds = time.monotonic() - started
            self.job_finished.emit(JobResult(job.id, paths, seconds, tuple(warnings), job.kind))
        except Cancelled:
            log.info("job %d cancelled", job.id)
            self.job_cancelled.emit(job.id)
        except WuerstchenError as exc:
            log.warning("job %d failed: %s", job.id, exc, exc_info=True)
            missing = isinstance(exc, OfflineError)
            saved = tuple(getattr(exc, "paths", ()))
            error = JobError(job.id, str(exc), traceback.format_exc(), missing_files=missing, paths=saved)
            self.job_failed.emit(error)
        except Exception as exc:  # the worker must survive anything a job does
            log.exception("job %d crashed", job.id)
            message = self.tr("Something went wrong while generating: {0}").format(exc)
            self.job_failed.emit(JobError(job.id, message, traceback.format_exc()))

    def _progress_reporter(
        self, pipe: Pipeline, job: Job, tracker: JobTracker
    ) -> Callable[[StepEvent], None]:
        stage_started: dict[str, float] = {}
        last_emit = [0.0]
        seeds: tuple[int, ...] = ()
        if job.params is not None and not job.sources:
            seeds = tuple(job.params.seed + i for i in range(job.params.images))

        def report(event: StepEvent) -> None:
            now = time.monotonic()
            started = stage_started.setdefault(event.stage, now)
            last = event.step == event.total
            whole = tracker.step(event.stage, event.step, event.total, now)
            # A step with a preview always reports its progress too: the caption and the status agree.
            previewed = event.denoised is not None and event.stage == "prior"
            if previewed:
                self._send_preview(pipe, job.id, event, seeds)
            if not (last or previewed) and now - last_emit[0] < PROGRESS_INTERVAL_S:
                return
            last_emit[0] = now
            left = (now - started) / event.step * (event.total - event.step) if event.step else -1.0
            self.progress.emit(job.id, event.stage, event.step, event.total, left)
            self.job_progress.emit(whole)

        return report

    def _send_preview(self, pipe: Pipeline, job_id: int, event: StepEvent, seeds: tuple[int, ...]) -> None:
        assert event.denoised is not None
        try:
            pixels = pipe.preview(event.denoised)
        except Exception:  # a preview is a nicety: never let it fail the job
            if pipe.previewer_path is None:
                log.warning("no live preview", exc_info=True)
                return
            log.warning("the previewer failed; live previews are approximate from now on", exc_info=True)
            pipe.previewer_path = None
            return
        from wuerstchen_desktop.core.engine.live_preview import render_previews

        n, _, h, w = pixels.shape
        images = tuple(render_previews(pixels))
        shown = seeds if len(seeds) == n else tuple(range(n))
        preview = Preview(job_id, event.step, event.total, w, h, images, shown, pipe.previews_approximate)
        self.preview.emit(preview)


class GenerationService(QObject):
    """The window's handle on generation: a job queue in front of one worker on one thread."""

    engine_status = Signal(str)
    engine_failed = Signal(str)
    engine_ready = Signal(str, str)
    queue_changed = Signal(int)  # jobs waiting, not counting the running one (also sent when reordered)
    job_started = Signal(int)
    progress = Signal(int, str, int, int, float)
    job_progress = Signal(object)  # JobProgress of the running job, with the time left for the queue
    job_finished = Signal(object)
    job_failed = Signal(object)
    job_cancelled = Signal(int)
    preview = Signal(object)  # Preview of the running job's Stage C
    warmed = Signal(int)
    _dispatch = Signal(object)
    _prepare = Signal(object)
    _configure = Signal(object)
    _refresh_previewer = Signal()

    def __init__(self, config: EngineConfig, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._pending: deque[Job] = deque()
        self._running: Job | None = None
        self._costs = StageCosts()  # the worker's timings, as of its latest report
        self.last_progress: JobProgress | None = None  # the running job's
        self._thread = QThread()
        self._thread.setObjectName("generation")
        self._worker = GenerationWorker(config)
        self._worker.moveToThread(self._thread)
        self._dispatch.connect(self._worker.run_job)
        self._prepare.connect(self._worker.prepare)
        self._configure.connect(self._worker.configure)
        self._refresh_previewer.connect(self._worker.refresh_previewer)
        self._worker.engine_ready.connect(self.engine_ready)
        self._worker.engine_status.connect(self.engine_status)
        self._worker.engine_failed.connect(self.engine_failed)
        self._worker.job_started.connect(self.job_started)
        self._worker.progress.connect(self.progress)
        self._worker.job_progress.connect(self._job_progress)
        self._worker.preview.connect(self.preview)
        self._worker.warmed.connect(self.warmed)
        for done in (self._worker.job_finished, self._worker.job_failed, self._worker.job_cancelled):
            done.connect(self._on_done)
        self._worker.job_finished.connect(self.job_finished)
        self._worker.job_failed.connect(self.job_failed)
        self._worker.job_cancelled.connect(self.job_cancelled)
        self._thread.finished.connect(self._worker.deleteLater)
        self._thread.start()

    @property
    def busy(self) -> bool:
        return self._running is not None

    @property
    def costs(self) -> StageCosts:
        """What a step of each stage costs here, as of the worker's latest report."""
        return self._costs.copy()

    @property
    def pending(self) -> int:
        return len(self._pending)

    @property
    def running(self) -> Job | None:
        return self._running

    def jobs(self) -> list[Job]:
        """The running job (if any), then the waiting ones in the order they will run."""
        return ([self._running] if self._running is not None else []) + list(self._pending)

    def remove(self, job_id: int) -> bool:
        """Take a waiting job off the queue (it reports as cancelled); False if it is not waiting."""
        job = self._waiting(job_id)
        if job is None:
            return False
        self._pending.remove(job)
        self.job_cancelled.emit(job_id)
        self.queue_changed.emit(len(self._pending))
        return True

    def move(self, job_id: int, index: int) -> bool:
        """Put a waiting job at ``index`` among the waiting ones; False (and nothing moves) if the worker
        has already taken it."""
        job = self._waiting(job_id)
        if job is None:
            return False
        self._pending.remove(job)
        self._pending.insert(max(0, min(index, len(self._pending))), job)
        self.queue_changed.emit(len(self._pending))
        return True

    def _waiting(self, job_id: int) -> Job | None:
        return next((job for job in self._pending if job.id == job_id), None)

    def waiting_seconds(self) -> float:
        """The waiting jobs' estimated seconds, -1 until this machine has timed a step."""
        if not self._costs.known:
            return -1.0
        return sum(self._costs.job_seconds(job) for job in self._pending)

    def warm_up(self, likely: GenerationParams | None = None) -> None:
        """Load the engine in the background now (jobs submitted meanwhile wait for it), then run each model
        once at ``likely``'s size and the default one, so the first job costs what the next ones do. That
        warm-up gives way to a submitted job within one model call, and writes and reports nothing."""
        self._prepare.emit(likely)

    def reconfigure(self, config: EngineConfig) -> None:
        """Takes effect between jobs: the running job finishes with the engine it started with."""
        self._configure.emit(config)

    def refresh_previewer(self) -> None:
        """Look for the live-preview model again (after downloading it); takes effect between steps."""
        self._refresh_previewer.emit()

    def submit(self, job: Job) -> int:
        self._pending.append(job)
        self.queue_changed.emit(len(self._pending))
        self._next()
        return job.id

    def cancel_current(self) -> None:
        if self._running is not None:
            self._running.cancel.set()

    def cancel_all(self) -> None:
        dropped = list(self._pending)
        self._pending.clear()
        for job in dropped:
            self.job_cancelled.emit(job.id)
        self.queue_changed.emit(0)
        self.cancel_current()

    def shutdown(self, timeout_ms: int = 30_000) -> bool:
        """Cancel everything, wait for the worker to stop, and end its thread. True if it stopped."""
        self.cancel_all()
        self._worker.stop_warm_up.set()
        self._thread.quit()
        stopped = self._thread.wait(timeout_ms)
        if not stopped:
            log.error("the generation thread did not stop within %d ms", timeout_ms)
        return bool(stopped)

    def _next(self) -> None:
        if self._running is None and self._pending:
            self._running = self._pending.popleft()
            self._worker.stop_warm_up.set()
            self.queue_changed.emit(len(self._pending))
            self._dispatch.emit(self._running)

    @Slot(object)
    def _job_progress(self, progress: JobProgress) -> None:
        self._costs = progress.costs
        if self._running is None or progress.job_id != self._running.id:
            return
        waiting = self.waiting_seconds()
        queue = progress.seconds_left + waiting if progress.seconds_left >= 0 and waiting >= 0 else -1.0
        self.last_progress = dataclasses.replace(progress, queue_seconds_left=queue)
        self.job_progress.emit(self.last_progress)

    @Slot(object)
    def _on_done(self, _outcome: object) -> None:
        self._running = None
        self.last_progress = None
        self._next()
