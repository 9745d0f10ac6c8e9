"""The warm-up job: every model once at the likely shapes, no change to any image, and it gives way
within one model call."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers.model_calls import CallLog
from wuerstchen_desktop.core.engine.warmup import WARM_PROMPT, likely_jobs, warm_job, warm_up
from wuerstchen_desktop.core.params import GenerationParams

SMALL = GenerationParams("a cat", width=256, height=256, seed=1, prior_steps=3, decoder_steps=2)
STAGES = ("text", "prior", "decoder", "vqgan")


@pytest.fixture
def fresh(prior_dir: Path, decoder_dir: Path):
    """A pipeline of its own, so its first calls are this test's."""
    from wuerstchen_desktop.core.engine.checkpoints import decoder_source, prior_source
    from wuerstchen_desktop.core.engine.pipeline import Pipeline

    def make(memory: str = "high") -> Pipeline:
        return Pipeline(prior_source(str(prior_dir)), decoder_source(str(decoder_dir)), memory=memory)

    return make


def test_likely_jobs_are_the_panel_size_then_the_default_each_shape_once() -> None:
    panel = GenerationParams("a cat", width=768, height=512, images=2, prior_steps=None, decoder_steps=12)
    jobs = likely_jobs(panel)
    assert [(j.width, j.height, j.images) for j in jobs] == [(768, 512, 2), (1024, 1024, 1)]
    assert all((j.prior_steps, j.decoder_steps, j.prompt) == (1, 1, WARM_PROMPT) for j in jobs)
    assert [j.prior_guidance for j in jobs] == [panel.prior_guidance, GenerationParams("").prior_guidance]
    # The panel at the default size: one job; a new seed or prompt is the same shape.
    assert len(likely_jobs(GenerationParams("x", seed=9, prior_steps=4))) == 1
    assert len(likely_jobs(None)) == 1
    # Guidance on or off changes the batch the models see, so it is another shape.
    assert len(likely_jobs(GenerationParams("x", prior_guidance=1.0))) == 2


def test_warm_up_runs_each_model_once_and_changes_no_image(fresh, pipeline, monkeypatch) -> None:
    pipe = fresh()
    calls = CallLog().install(monkeypatch)
    assert warm_up(pipe, [warm_job(SMALL), warm_job(SMALL.replace(images=2))], lambda: False) == 2
    # Each text tower once for the prompt and once for the negative prompt, as a job calls them; per shape
    # one step of Stage C, one of Stage B, one decode.
    assert [calls.count(s) for s in STAGES] == [4, 2, 2, 2]
    # The job after it is the image a pipeline that never warmed up makes, seed for seed.
    assert pipe.generate(SMALL).pixels.equal(pipeline.generate(SMALL).pixels)


@pytest.mark.parametrize("after", range(1, 9))
def test_warm_up_stops_within_the_model_call_in_progress(fresh, monkeypatch, after: int) -> None:
    """A job arriving during the ``after``-th model call waits for that call only."""
    pipe = fresh()
    calls = CallLog().install(monkeypatch)
    warmed = warm_up(
        pipe, [warm_job(SMALL), warm_job(SMALL.replace(images=2))], lambda: len(calls.log) >= after
    )
    assert len(calls.log) == after
    assert warmed == (1 if after >= 7 else 0)  # the first shape takes 4 text calls and 3 model calls


def test_low_memory_mode_is_not_warmed(fresh, monkeypatch) -> None:
    """Low memory reads each model from disk for its own stage: a warm-up would only read them all."""
    pipe = fresh("low")
    calls = CallLog().install(monkeypatch)
    assert warm_up(pipe, [warm_job(SMALL)], lambda: False) == 0
    assert calls.log == []


def test_out_of_memory_ends_the_warm_up_and_keeps_the_memory_mode(fresh, monkeypatch) -> None:
    """A job that runs out of memory moves the engine to a lower memory mode; a warm-up only stops."""
    import torch

    from wuerstchen_desktop.core.models import StageB

    pipe = fresh()
    calls = CallLog().install(monkeypatch)
    forward = StageB.forward

    def huge(model, x, *args, **kwargs):  # the 1024x1024 default does not fit, the panel's size does
        if x.shape[-1] > 64:
            raise torch.OutOfMemoryError("CUDA out of memory (injected)")
        return forward(model, x, *args, **kwargs)

    monkeypatch.setattr(StageB, "forward", huge)
    jobs = likely_jobs(SMALL)
    assert warm_up(pipe, jobs, lambda: False) == 1
    assert pipe.memory == "high" and pipe.step_down_on_oom
    assert calls.count("vqgan") == 1  # the panel's size was warmed before the default ran out
