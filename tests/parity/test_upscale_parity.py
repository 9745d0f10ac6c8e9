"""Upscale 2x against the reference: the VQGAN encoding against diffusers' PaellaVQModel.encode, the
decoder's noising against its DDPMWuerstchenScheduler.add_noise, and the whole Stage B and Stage A run
against diffusers' WuerstchenDecoderPipeline told to make its latent at twice the composition's size."""

from __future__ import annotations

import dataclasses
import warnings
from pathlib import Path

import pytest
import torch

from wuerstchen_desktop.core.engine import recipe
from wuerstchen_desktop.core.engine.noise import generator
from wuerstchen_desktop.core.engine.progress import Run
from wuerstchen_desktop.core.engine.schedule import WuerstchenSampler, from_strength, uniform_timesteps
from wuerstchen_desktop.core.params import GenerationParams

SHA = "ab" * 32


def scheduler(decoder_dir: Path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from diffusers import DDPMWuerstchenScheduler
    return DDPMWuerstchenScheduler.from_pretrained(decoder_dir / "scheduler")


def picture(size: int = 512) -> torch.Tensor:
    return torch.rand(1, 3, size, size, generator=torch.Generator().manual_seed(3))


def test_the_vqgan_encoding_equals_the_reference(pipeline, reference) -> None:
    pixels = picture(256)
    ours = recipe.vqgan_latent(pipeline, pixels, Run([]))
    expected = reference.vqgan.encode(pixels).latents / reference.vqgan.config.scale_factor
    assert ours.shape == (1, 4, 64, 64)
    torch.testing.assert_close(ours, expected, rtol=1e-5, atol=1e-5)


def test_the_decoders_noising_equals_the_reference_scheduler(pipeline, decoder_dir: Path) -> None:
    g = torch.Generator().manual_seed(0)
    x0, noise = torch.randn(1, 4, 64, 64, generator=g), torch.randn(1, 4, 64, 64, generator=g)
    source = pipeline.decoder_source.sampler
    ours = WuerstchenSampler(source.s, source.scaler)
    for t in (0.1, 0.4, 0.7, 1.0):
        expected = scheduler(decoder_dir).add_noise(x0, noise, torch.tensor([t]))
        torch.testing.assert_close(ours.add_noise(x0, noise, t), expected, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("strength", [0.4, 0.8])
def test_upscale_equals_the_reference_decoder_at_twice_the_size(pipeline, reference, strength: float) -> None:
    p = GenerationParams(
        "a cat",
        width=512,
        height=512,
        decoder_steps=4,
        decoder_seed=9,
        upscale=2,
        strength=strength,
        source=SHA,
    )
    stage_c = torch.randn(1, 16, 6, 6, generator=torch.Generator().manual_seed(4))
    pixels = picture()
    ours = pipeline.upscale(p, stage_c, pixels)
    assert ours.pixels.shape == (1, 3, 512, 512)

    ref = reference.decoder_pipe
    g = generator(9)
    x0 = ref.vqgan.encode(pixels).latents / ref.vqgan.config.scale_factor
    noise = torch.randn(1, 4, 128, 128, generator=g)  # the first draw, as ours: then one per step
    noised = ref.scheduler.add_noise(x0, noise, torch.tensor([strength]))
    scale = ref.config.latent_dim_scale
    ref.register_to_config(latent_dim_scale=scale * 2)  # Stage B's latent at twice the composition's size
    try:
        out = ref(
            image_embeddings=stage_c,
            prompt="a cat",
            timesteps=from_strength(uniform_timesteps(4), strength).tolist(),
            guidance_scale=0.0,
            generator=g,
            latents=noised,
            output_type="pt",
        ).images
    finally:
        ref.register_to_config(latent_dim_scale=scale)
    assert ((out > 0.02) & (out < 0.98)).float().mean() > 0.3  # mid-range: clipping hides nothing
    err = (ours.pixels - out).abs().max().item()
    assert err < 1e-3, f"max abs pixel error {err:.2e}"
    assert (
        ours.pixels - pipeline.upscale(dataclasses.replace(p, strength=1.0), stage_c, None).pixels
    ).abs().max() > 0.01
