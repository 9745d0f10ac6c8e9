"""Pipeline behaviour beyond parity: step reports, cancellation, batching rules, prompt truncation."""

from __future__ import annotations

import pytest
import torch

from wuerstchen_desktop.core.engine.progress import StepEvent
from wuerstchen_desktop.core.errors import Cancelled, InvalidParams
from wuerstchen_desktop.core.params import GenerationParams

SMALL = GenerationParams("a cat", width=256, height=256, seed=1, prior_steps=3, decoder_steps=2)


def test_step_callback_reports_every_step(pipeline) -> None:
    events: list[StepEvent] = []
    result = pipeline.generate(SMALL, on_step=events.append)
    assert [(e.stage, e.step, e.total) for e in events] == [
        ("prior", 1, 3),
        ("prior", 2, 3),
        ("prior", 3, 3),
        ("decoder", 1, 2),
        ("decoder", 2, 2),
        ("vqgan", 1, 1),
    ]
    assert events[0].latents.shape == (1, 16, 6, 6)
    assert events[3].latents.shape == (1, 4, 64, 64)
    assert result.stage_c.shape == (1, 16, 6, 6)
    assert result.images[0].size == (256, 256)


def test_official_schedule_makes_29_prior_calls(pipeline) -> None:
    events: list[StepEvent] = []
    pipeline.generate(SMALL.replace(prior_steps=None), on_step=events.append)
    assert sum(e.stage == "prior" for e in events) == 29


def test_cancel_between_steps_stops_the_job(pipeline) -> None:
    events: list[StepEvent] = []
    with pytest.raises(Cancelled):
        pipeline.generate(SMALL, on_step=events.append, cancel=lambda: len(events) >= 2)
    assert len(events) == 2


def test_same_seed_same_image_and_new_seed_new_image(pipeline) -> None:
    a = pipeline.generate(SMALL).pixels
    b = pipeline.generate(SMALL).pixels
    c = pipeline.generate(SMALL.replace(seed=2)).pixels
    assert torch.equal(a, b)
    assert (a - c).abs().max() > 0.01


def test_jobs_in_one_batch_must_share_size_and_steps(pipeline) -> None:
    with pytest.raises(InvalidParams, match="share their width"):
        pipeline.generate([SMALL, SMALL.replace(width=384)])
    with pytest.raises(InvalidParams, match="Nothing to generate"):
        pipeline.generate([])


def test_long_prompt_is_truncated_and_the_user_told(pipeline) -> None:
    prompt = " ".join(["a red cat"] * 30 + ["astronaut horse"])  # 92 tokens
    notes = pipeline.prompt_warnings([SMALL.replace(prompt=prompt)])
    assert len(notes) == 1
    assert "only 75 fit" in notes[0] and "astronaut horse" in notes[0]
    assert pipeline.prompt_warnings([SMALL]) == []
    # The image is still made from the first 77 tokens.
    assert pipeline.generate(SMALL.replace(prompt=prompt)).pixels.shape == (1, 3, 256, 256)


def test_token_count(pipeline) -> None:
    assert pipeline.prior_text.count_tokens("a cat") == 4  # start, "a", "cat", end


def test_vary_detail_is_reproduced_from_the_file_alone(pipeline, tmp_path) -> None:
    """An image decoded from a stored latent with a decoder seed equals generating its recorded params."""
    from wuerstchen_desktop.core.engine import recipe
    from wuerstchen_desktop.core.engine.progress import Run
    from wuerstchen_desktop.core.imagefile.read import read_record
    from wuerstchen_desktop.core.imagefile.record import decode_latent
    from wuerstchen_desktop.core.imagefile.write import write_image
    from wuerstchen_desktop.core.jobs.records import image_record

    first = pipeline.generate(SMALL)
    path = write_image(first.images[0], image_record(pipeline, first.params[0], first.stage_c[0]), tmp_path)
    record = read_record(path)
    varied_params = record.params.replace(decoder_seed=1234)
    latent = torch.as_tensor(decode_latent(record.latent), dtype=torch.float32)
    with torch.inference_mode():
        run = Run([torch.Generator().manual_seed(1234)])
        varied = recipe.decode_latents(pipeline, latent, [varied_params], run)
    again = pipeline.generate(varied_params).pixels
    assert (again - varied).abs().max() < 1e-5
    assert (varied - first.pixels).abs().max() > 0.01  # a new decoder seed is a new image
    # Without a decoder seed nothing changes: Stage B continues the image's own generator.
    assert torch.equal(pipeline.generate(SMALL).pixels, first.pixels)
