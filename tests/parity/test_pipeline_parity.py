"""Our pipeline against the reference, seed for seed, in float32 on the CPU (max abs error 1e-3)."""

from __future__ import annotations

import warnings

import pytest
import torch

from wuerstchen_desktop.core.engine import recipe
from wuerstchen_desktop.core.engine.progress import Run
from wuerstchen_desktop.core.params import GenerationParams

TOL = 1e-3


def official_timesteps() -> list[float]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from diffusers.pipelines.deprecated.wuerstchen.pipeline_wuerstchen_prior import (
            DEFAULT_STAGE_C_TIMESTEPS,
        )
    return DEFAULT_STAGE_C_TIMESTEPS


def run_reference(reference, p: GenerationParams, generator=None, **extra) -> torch.Tensor:
    """The reference combined pipeline for one prompt, as its users call it."""
    kwargs = dict(
        width=p.width,
        height=p.height,
        prior_guidance_scale=p.prior_guidance,
        num_inference_steps=p.decoder_steps,
        decoder_guidance_scale=p.decoder_guidance,
        negative_prompt=p.negative_prompt or None,
        num_images_per_prompt=p.images,
        generator=generator if generator is not None else torch.Generator("cpu").manual_seed(p.seed),
        output_type="pt",
    )
    if p.prior_steps is None:
        kwargs["prior_timesteps"] = official_timesteps()
    else:
        kwargs["prior_num_inference_steps"] = p.prior_steps
    kwargs.update(extra)
    return reference(p.prompt, **kwargs).images


def assert_close(ours: torch.Tensor, ref: torch.Tensor) -> None:
    assert ours.shape == ref.shape
    # The tiny checkpoints give mid-range pixels, so clipping cannot hide a difference.
    assert ((ref > 0.02) & (ref < 0.98)).float().mean() > 0.3
    err = (ours - ref).abs().max().item()
    assert err < TOL, f"max abs pixel error {err:.2e}"


CASES = {
    "official schedule": GenerationParams("a cat", width=256, height=256, seed=1, decoder_steps=2),
    "uniform steps": GenerationParams(
        "a red dog", width=256, height=256, seed=2, prior_steps=4, decoder_steps=3
    ),
    "prior guidance 1": GenerationParams(
        "a cat", width=256, height=256, seed=3, prior_steps=3, prior_guidance=1.0, decoder_steps=2
    ),
    "prior guidance 4 with negative": GenerationParams(
        "a horse",
        negative_prompt="blue",
        width=256,
        height=256,
        seed=4,
        prior_steps=3,
        prior_guidance=4.0,
        decoder_steps=2,
    ),
    "decoder guidance with negative": GenerationParams(
        "a photo of the cat",
        negative_prompt="painting",
        width=256,
        height=256,
        seed=5,
        prior_steps=3,
        decoder_steps=3,
        decoder_guidance=3.0,
    ),
    "non-square": GenerationParams(
        "an astronaut", width=256, height=384, seed=7, prior_steps=3, decoder_steps=2
    ),
    "wide": GenerationParams("a dog", width=512, height=256, seed=8, prior_steps=2, decoder_steps=2),
}


@pytest.mark.parametrize("name", list(CASES))
def test_matches_reference(pipeline, reference, name: str) -> None:
    p = CASES[name]
    ours = pipeline.generate(p)
    assert_close(ours.pixels, run_reference(reference, p))


def test_images_per_prompt_each_match_their_own_seed(pipeline, reference) -> None:
    p = GenerationParams(
        "a cat in the red",
        width=256,
        height=256,
        seed=20,
        images=2,
        prior_steps=3,
        decoder_steps=2,
        decoder_guidance=2.0,
    )
    ours = pipeline.generate(p)
    # In one reference batch with one generator per image ...
    gens = [torch.Generator("cpu").manual_seed(20 + i) for i in range(2)]
    assert_close(ours.pixels, run_reference(reference, p, generator=gens))
    # ... and each image alone, from the parameters stored with it.
    for i, single in enumerate(ours.params):
        assert single.seed == 20 + i and single.images == 1
        assert_close(ours.pixels[i : i + 1], run_reference(reference, single))
    assert not torch.equal(ours.pixels[0], ours.pixels[1])


def test_two_prompts_in_one_batch(pipeline, reference) -> None:
    jobs = [
        GenerationParams(
            "a cat",
            negative_prompt="blue",
            width=256,
            height=256,
            seed=30,
            images=2,
            prior_steps=3,
            decoder_steps=2,
            decoder_guidance=2.0,
        ),
        GenerationParams(
            "a horse in the painting",
            width=256,
            height=256,
            seed=40,
            images=1,
            prior_steps=3,
            decoder_steps=2,
            decoder_guidance=2.0,
        ),
    ]
    ours = pipeline.generate(jobs)
    assert ours.pixels.shape[0] == 3
    assert [p.prompt for p in ours.params] == ["a cat", "a cat", "a horse in the painting"]
    for i, single in enumerate(ours.params):
        assert_close(ours.pixels[i : i + 1], run_reference(reference, single))


def test_decode_again_from_stage_c_latents(pipeline, reference) -> None:
    p = GenerationParams("a dog", width=256, height=256, seed=50, prior_steps=3, decoder_steps=2)
    first = pipeline.generate(p)
    with torch.inference_mode():
        run = Run([torch.Generator("cpu").manual_seed(99)])
        again = recipe.decode_latents(pipeline, first.stage_c, [p], run)
    ref = reference.decoder_pipe(
        image_embeddings=first.stage_c,
        prompt=p.prompt,
        num_inference_steps=p.decoder_steps,
        guidance_scale=p.decoder_guidance,
        generator=torch.Generator("cpu").manual_seed(99),
        output_type="pt",
    ).images
    assert_close(again, ref)
    assert (again - first.pixels).abs().max() > 0.01  # a new decoder seed is a new image


def test_schedule_equals_reference() -> None:
    from wuerstchen_desktop.core.engine.schedule import official_prior_timesteps

    ref = torch.Tensor(official_timesteps())
    ours = official_prior_timesteps()
    assert len(ours) == 30
    assert torch.equal(ours, ref)


def test_sampler_step_equals_reference_scheduler() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from diffusers import DDPMWuerstchenScheduler

    from wuerstchen_desktop.core.engine.schedule import WuerstchenSampler, uniform_timesteps

    ref = DDPMWuerstchenScheduler()
    ts = uniform_timesteps(5)
    ref.set_timesteps(timesteps=ts)
    ours = WuerstchenSampler()
    x = torch.randn(2, 16, 6, 6, generator=torch.Generator().manual_seed(0))
    for step, t in zip(ours.steps(ts), ts[:-1], strict=True):
        eps = torch.randn(x.shape, generator=torch.Generator().manual_seed(1))
        noise_seed = 7
        expected = ref.step(
            eps, t.expand(2), x, generator=torch.Generator().manual_seed(noise_seed)
        ).prev_sample
        noise = torch.randn(x.shape, generator=torch.Generator().manual_seed(noise_seed))
        got = ours.step(step, x, eps, noise)
        torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)
        x = expected


def test_noising_a_picture_equals_the_reference_scheduler() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from diffusers import DDPMWuerstchenScheduler

    from wuerstchen_desktop.core.engine.schedule import WuerstchenSampler

    g = torch.Generator().manual_seed(0)
    x0, noise = torch.randn(2, 16, 6, 6, generator=g), torch.randn(2, 16, 6, 6, generator=g)
    for t in (0.05, 0.3, 0.5, 0.85, 1.0):
        expected = DDPMWuerstchenScheduler().add_noise(x0, noise, torch.tensor([t, t]))
        torch.testing.assert_close(
            WuerstchenSampler().add_noise(x0, noise, t), expected, rtol=1e-6, atol=1e-6
        )


@pytest.mark.parametrize("strength", [0.3, 0.75])
def test_image_to_image_matches_the_reference_started_from_the_noised_picture(
    pipeline, reference, strength: float
) -> None:
    """The reference pipeline given the picture noised to ``strength`` and the schedule from there on."""
    from wuerstchen_desktop.core.engine.recipe import Start
    from wuerstchen_desktop.core.engine.schedule import WuerstchenSampler, from_strength, uniform_timesteps

    p = GenerationParams("a cat", width=256, height=256, seed=11, prior_steps=8, decoder_steps=2)
    src = torch.randn(1, 16, 6, 6, generator=torch.Generator().manual_seed(5)) * 0.5
    ours = pipeline.generate(p, start=Start(src, strength))

    g = torch.Generator("cpu").manual_seed(p.seed)
    noised = WuerstchenSampler().add_noise(src, torch.randn(1, 16, 6, 6, generator=g), strength)
    ts = from_strength(uniform_timesteps(8), strength).tolist()
    ref = run_reference(reference, p, generator=g, latents=noised, prior_timesteps=ts)
    assert_close(ours.pixels, ref)
    assert (ours.pixels - pipeline.generate(p).pixels).abs().max() > 0.01  # the picture made a difference
