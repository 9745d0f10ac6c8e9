"""Image-to-image in the recipe: Stage C from a picture's composition noised to a strength."""

from __future__ import annotations

import pytest
import torch

from wuerstchen_desktop.core.engine.compose import compose
from wuerstchen_desktop.core.engine.progress import StepEvent
from wuerstchen_desktop.core.engine.recipe import Start
from wuerstchen_desktop.core.engine.schedule import from_strength, official_prior_timesteps, uniform_timesteps
from wuerstchen_desktop.core.errors import InvalidParams
from wuerstchen_desktop.core.params import GenerationParams

SMALL = GenerationParams("a cat", width=256, height=256, seed=1, prior_steps=10, decoder_steps=2)


def picture(seed: int = 3, rows: int = 1) -> torch.Tensor:
    """A composition in the prior sampler's space, as the image encoder gives it."""
    return torch.randn(rows, 16, 6, 6, generator=torch.Generator().manual_seed(seed)) * 0.5


def test_strength_one_is_text_to_image_seed_for_seed(pipeline) -> None:
    plain = pipeline.generate(SMALL)
    started = pipeline.generate(SMALL, start=Start(picture(), 1.0))
    assert torch.equal(started.pixels, plain.pixels)
    assert torch.equal(started.stage_c, plain.stage_c)


def test_half_strength_runs_half_the_schedule(pipeline) -> None:
    events: list[StepEvent] = []
    pipeline.generate(SMALL, on_step=events.append, start=Start(picture(), 0.5))
    prior = [e for e in events if e.stage == "prior"]
    assert [e.total for e in prior][:1] == [5] and len(prior) == 5


def test_schedule_from_strength() -> None:
    ts = uniform_timesteps(10)
    assert torch.equal(from_strength(ts, 1.0), ts)
    assert torch.allclose(from_strength(ts, 0.5), torch.tensor([0.5, 0.4, 0.3, 0.2, 0.1, 0.0]))
    assert torch.allclose(from_strength(ts, 0.45), torch.tensor([0.45, 0.4, 0.3, 0.2, 0.1, 0.0]))
    official = from_strength(official_prior_timesteps(), 0.5)  # the official schedule is dense above 2/3
    assert official[0] == 0.5 and len(official) - 1 == 8 and official[-1] == 0


def test_lower_strength_stays_closer_to_the_picture(pipeline) -> None:
    """Compositions made from a picture move away from it as the strength grows."""
    src = picture()
    composed = {s: compose(pipeline, SMALL, start=Start(src, s)).stage_c for s in (0.1, 0.5, 0.9)}
    target = pipeline.prior_space(composed[0.1])  # the same space as ``src``
    far = {s: (pipeline.prior_space(c) - src).abs().mean().item() for s, c in composed.items()}
    assert far[0.1] < far[0.5] < far[0.9]
    assert (target - src).abs().mean() < (pipeline.prior_space(composed[0.9]) - src).abs().mean()


def test_each_image_keeps_its_own_noise(pipeline) -> None:
    two = compose(pipeline, SMALL.replace(images=2), start=Start(picture(), 0.6))
    alone = compose(pipeline, SMALL.replace(seed=2), start=Start(picture(), 0.6))
    assert not torch.equal(two.stage_c[0], two.stage_c[1])
    assert (two.stage_c[1] - alone.stage_c[0]).abs().max() < 1e-4  # image 1 of seed 1 is seed 2 alone


@pytest.mark.parametrize("strength", [0.0, -0.1, 1.5])
def test_a_strength_out_of_range_is_refused(strength: float) -> None:
    with pytest.raises(InvalidParams, match="strength"):
        Start(picture(), strength)


def test_a_picture_of_another_size_is_refused(pipeline) -> None:
    wrong = torch.zeros(1, 16, 9, 6)
    with pytest.raises(InvalidParams, match="does not fit"):
        pipeline.generate(SMALL, start=Start(wrong, 0.5))
