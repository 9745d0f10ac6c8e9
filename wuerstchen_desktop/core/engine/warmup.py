"""Warming the engine up for the sizes a person is likely to ask for, while the app is idle.

A model's first call at a new shape costs more than the ones after it: the kernels' primitives are made for
that shape, the allocator grows to the job's working set, the text towers run their first call. A warm-up
job makes every model run once at those shapes (one step per stage, its image thrown away), so the first
job the person starts costs what the next ones do. It writes nothing, reports no progress, and stops between
two model calls as soon as ``stop()`` says a job is waiting.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from wuerstchen_desktop.core.engine.pipeline import Pipeline
from wuerstchen_desktop.core.engine.progress import StepEvent
from wuerstchen_desktop.core.engine.stage_models import STAGE_PRIOR, STAGE_VQGAN
from wuerstchen_desktop.core.errors import Cancelled, OutOfMemory
from wuerstchen_desktop.core.params import GenerationParams

log = logging.getLogger(__name__)

WARM_PROMPT = "a picture"  # a prompt besides the negative one: the text towers see a real job's batch


def warm_job(params: GenerationParams) -> GenerationParams:
    """The one-step job that runs each model once at the shapes ``params`` would run them."""
    return GenerationParams(
        WARM_PROMPT,
        width=params.width,
        height=params.height,
        images=params.images,
        prior_steps=1,
        prior_guidance=params.prior_guidance,
        decoder_steps=1,
        decoder_guidance=params.decoder_guidance,
    )


def _shape(p: GenerationParams) -> tuple[object, ...]:
    # What sets the models' tensor shapes: the size, the batch, and whether guidance doubles it.
    return p.width, p.height, p.images, p.prior_guidance > 1, p.decoder_guidance > 1


def likely_jobs(current: GenerationParams | None) -> list[GenerationParams]:
    """The warm-up jobs for the job the prompt panel describes now (the last size used) and the default
    size, each shape once, the panel's first."""
    wanted = [p for p in (current, GenerationParams("")) if p is not None]
    unique = {_shape(p): warm_job(p) for p in reversed(wanted)}
    return list(reversed(unique.values()))


def warm_up(pipe: Pipeline, jobs: Sequence[GenerationParams], stop: Callable[[], bool]) -> int:
    """Run ``jobs`` (from ``likely_jobs``) on ``pipe``, images discarded; how many ran to the end.

    ``stop()`` is checked before and after every model call, so a job that arrives waits for at most the
    call in progress. Low memory mode is not warmed: it reads each model from disk for its stage anyway.
    """
    if pipe.memory == "low":
        return 0

    def after_step(event: StepEvent) -> None:
        if event.stage == STAGE_VQGAN:
            return  # the shape's last call is made: it counts as warmed, and the loop looks at ``stop``
        if stop():
            raise Cancelled()
        if event.stage == STAGE_PRIOR and event.denoised is not None:
            _preview(pipe, event)
            if stop():
                raise Cancelled()

    # Out of memory ends the warm-up; it never moves the engine to a lower memory mode as a job would.
    pipe.step_down_on_oom = False
    try:
        warmed = _warm(pipe, jobs, stop, after_step)
    finally:
        pipe.step_down_on_oom = True
    log.info("warmed up %d of %d sizes", warmed, len(jobs))
    return warmed


def _warm(
    pipe: Pipeline,
    jobs: Sequence[GenerationParams],
    stop: Callable[[], bool],
    after_step: Callable[[StepEvent], None],
) -> int:
    # The text towers first, one call per text as a job makes them, each followed by a look at ``stop``;
    # the jobs below then find their text encoded.
    for encoder in (pipe.prior_text, pipe.decoder_text):
        for text in dict.fromkeys(t for job in jobs for t in (job.prompt, job.negative_prompt)):
            if stop():
                return 0
            encoder.encode([text])
        encoder.done()
    warmed = 0
    for job in jobs:
        if stop():
            break
        try:
            pipe.generate(job, on_step=after_step, cancel=stop)
        except (Cancelled, OutOfMemory) as exc:
            if isinstance(exc, OutOfMemory):
                log.info("the warm-up stopped: %s", exc)
            break
        warmed += 1
    return warmed


def _preview(pipe: Pipeline, event: StepEvent) -> None:
    """The live previewer's first call too, where one is installed; a failing one is the job's to report."""
    if pipe.previewer_path is None or event.denoised is None:
        return
    try:
        pipe.preview(event.denoised)
    except Exception:
        log.info("the previewer did not warm up", exc_info=True)
