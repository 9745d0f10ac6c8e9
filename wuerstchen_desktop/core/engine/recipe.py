"""The Würstchen recipe, step by step: compose (encode the prompt, Stage C), then decode (encode the prompt
again, Stage B, Stage A).

Stage C settles an image's composition in a latent 42 times smaller than the image (24x24 at 1024x1024);
Stage B turns that into the VQGAN's latent; Stage A, the VQGAN, decodes it to pixels. Each stage's model
runs under ``StageModels.guarded`` (float16 overflow redone in the fallback precision) and every noise draw
comes from the image's own generator (noise.py), so each image matches the reference seed for seed.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from wuerstchen_desktop.core.engine.noise import draw, generator
from wuerstchen_desktop.core.engine.outputs import stored
from wuerstchen_desktop.core.engine.progress import Run, StepEvent
from wuerstchen_desktop.core.engine.sampling import denoise
from wuerstchen_desktop.core.engine.schedule import (
    WuerstchenSampler,
    from_strength,
    prior_timesteps,
    uniform_timesteps,
)
from wuerstchen_desktop.core.engine.stage_models import STAGE_DECODER, STAGE_PRIOR, STAGE_VQGAN, StageModels
from wuerstchen_desktop.core.engine.text import TextEncoder
from wuerstchen_desktop.core.errors import Cancelled, InvalidParams
from wuerstchen_desktop.core.models.blocks import StepCache
from wuerstchen_desktop.core.params import GenerationParams, per_image, stage_c_size


@dataclass(frozen=True)
class Start:
    """Image-to-image: Stage C starts from ``latent``, a picture's composition in the prior sampler's space
    (``(1, 16, h, w)`` for every image, or one row per image), noised to ``strength`` with each image's own
    noise, and runs the schedule from ``t = strength`` down. Strength 1 is text-to-image, seed for seed."""

    latent: torch.Tensor
    strength: float

    def __post_init__(self) -> None:
        if not 0 < self.strength <= 1:
            raise InvalidParams(
                f"The strength {self.strength:g} is out of range.",
                "Choose a strength above 0 and at most 1 (1 ignores the picture).",
            )


def compose_latents(
    models: StageModels, jobs: Sequence[GenerationParams], run: Run, start: Start | None = None
) -> torch.Tensor:
    """Steps 1 and 2: each image's composition, ``(B, 16, h, w)`` in float32, the decoder's conditioning."""
    job, src = jobs[0], models.prior_source
    # 1. Encode the prompt (and for guidance the negative prompt) with the prior's CLIP text encoder.
    text = _encode(models.prior_text, jobs, cfg=job.prior_guidance > 1)
    # 2. Stage C turns noise (or a picture's composition, noised) into the composition, which is rescaled
    #    into the decoder's space.
    latent = models.guarded(STAGE_PRIOR, run, _stage_c, job, text, start)
    return latent * src.latent_mean - src.latent_std


def decoder_start(
    stage_c: torch.Tensor, jobs: Sequence[GenerationParams], run: Run
) -> tuple[torch.Tensor, Run]:
    """What Stage B starts from. Without a decoder seed: the composition just made and each image's own
    generator, as the reference does. With one ("vary detail"): the composition as its file stores it and a
    generator seeded by the decoder seed, so the image is the same whether it is made in one go or decoded
    later from its stored composition."""
    images = per_image(jobs)
    if all(p.decoder_seed is None for p in images):
        return stage_c, run
    stage_c, generators = stage_c.clone(), list(run.generators)
    for k, p in enumerate(images):
        if p.decoder_seed is not None:
            stage_c[k] = stored(stage_c[k : k + 1])[0]
            generators[k] = generator(p.decoder_seed)
    return stage_c, dataclasses.replace(run, generators=generators)


def decode_latents(
    models: StageModels,
    stage_c: torch.Tensor,
    jobs: Sequence[GenerationParams],
    run: Run,
    start: Start | None = None,
) -> torch.Tensor:
    """Steps 3 to 5: pixels ``(B, 3, H, W)`` in [0, 1], float32 on the CPU, from compositions ``stage_c``,
    at the jobs' size. ``start`` (Upscale 2x): Stage B starts from that VQGAN latent noised to its strength.
    """
    job = jobs[0]
    cfg = job.decoder_guidance > 1
    # 3. Encode the prompt (and for guidance the negative prompt) with the decoder's CLIP text encoder.
    clip = _encode(models.decoder_text, jobs, cfg)
    # 4. Stage B turns noise into the VQGAN latent, guided by the composition (unguided: by zeros).
    effnet = stage_c.to(models.device, torch.float32)  # resized in float32 by the decoder
    if cfg:
        effnet = torch.cat([effnet, torch.zeros_like(effnet)])
    z = models.guarded(STAGE_DECODER, run, _stage_b, job, effnet, clip, start)
    del effnet, clip
    if run.cancelled():
        raise Cancelled()
    # 5. Stage A, the VQGAN, decodes that latent to pixels (it draws no noise).
    pixels = models.guarded(STAGE_VQGAN, dataclasses.replace(run, generators=[]), _stage_a, z).clamp(0, 1)
    run.report(StepEvent(STAGE_VQGAN, 1, 1, pixels))
    return pixels.cpu()


def stage_b_size(models: StageModels, stage_c_hw: tuple[int, int]) -> tuple[int, int]:
    """(height, width) of the VQGAN latent Stage B makes from a Stage C latent of ``stage_c_hw``."""
    s = models.decoder_source.latent_dim_scale
    return int(stage_c_hw[0] * s), int(stage_c_hw[1] * s)


def vqgan_latent(models: StageModels, pixels: torch.Tensor, run: Run) -> torch.Tensor:
    """Pixels ``(B, 3, H, W)`` in [0, 1] as the Stage B latent that Stage A decodes back to them: the
    VQGAN's encoding, unquantised, divided by the scale Stage A multiplies by."""
    return models.guarded(STAGE_VQGAN, dataclasses.replace(run, generators=[]), _encode_pixels, pixels)


# -- the stages' work, run by StageModels.guarded ---------------------------------------------------
def _encode(encoder: TextEncoder, jobs: Sequence[GenerationParams], cfg: bool) -> torch.Tensor:
    """One row per image: its job's prompt, then under guidance one per image for its negative prompt."""
    text = _embeddings(encoder, jobs, negative=False)
    if cfg:
        text = torch.cat([text, _embeddings(encoder, jobs, negative=True)])
    encoder.done()
    return text


def _embeddings(encoder: TextEncoder, jobs: Sequence[GenerationParams], negative: bool) -> torch.Tensor:
    texts = [(job.negative_prompt if negative else job.prompt, job.weighting) for job in jobs]
    unique = list(dict.fromkeys(texts))  # each distinct text encoded once
    encoded = encoder.encode([t for t, _ in unique], [w for _, w in unique])
    rows = [unique.index(text) for job, text in zip(jobs, texts, strict=True) for _ in range(job.images)]
    return encoded[torch.tensor(rows, device=encoded.device)]


def _from_start(
    models: StageModels,
    stage: str,
    start: Start | None,
    x: torch.Tensor,
    steps: torch.Tensor,
    what: str,
    hint: str,
) -> tuple[torch.Tensor, torch.Tensor]:
    """A stage's first latent and schedule: ``x`` (its own first draw) and ``steps``, or, from ``start``, its
    latent noised to the strength with that draw and the schedule from the strength's point down."""
    if start is None or start.strength >= 1:
        return x, steps
    latent = start.latent.to(models.device, torch.float32)
    if latent.shape[1:] != x.shape[1:] or latent.shape[0] not in (1, x.shape[0]):
        raise InvalidParams(
            f"The picture's {what} {tuple(latent.shape)} does not fit this job's {tuple(x.shape)}.", hint
        )
    noised = _sampler(models, stage).add_noise(latent.expand_as(x), x, start.strength)
    return noised, from_strength(steps, start.strength)


def _stage_c(
    models: StageModels, job: GenerationParams, text: torch.Tensor, start: Start | None, run: Run
) -> torch.Tensor:
    prior = models.prior
    hw = stage_c_size(job.width, job.height, models.prior_source.resolution_multiple)
    x = draw(
        run.generators, (prior.c_in, *hw), models.device
    )  # the same first draw with or without a picture
    steps = prior_timesteps(job.prior_steps)
    x, steps = _from_start(
        models, STAGE_PRIOR, start, x, steps, "composition", "Start from the picture at the job's size."
    )
    cache: StepCache = {}  # the text conditioning, mapped at the first step
    cond = (text.to(models.stage_dtype(STAGE_PRIOR)), cache)
    return _denoise(models, STAGE_PRIOR, prior, cond, x, steps, job.prior_guidance, run)


def _stage_b(
    models: StageModels,
    job: GenerationParams,
    effnet: torch.Tensor,
    clip: torch.Tensor,
    start: Start | None,
    run: Run,
) -> torch.Tensor:
    decoder = models.decoder
    # The job's size, not the composition's: an upscale draws at twice the composition's size, and the
    # decoder resizes its Stage C conditioning to each level's size (as the reference's does).
    hw = stage_b_size(models, stage_c_size(job.width, job.height, models.prior_source.resolution_multiple))
    z = draw(run.generators, (decoder.c_in, *hw), models.device)  # the same first draw with a start
    steps = uniform_timesteps(job.decoder_steps)
    z, steps = _from_start(
        models, STAGE_DECODER, start, z, steps, "latent", "Start from the picture at half the job's size."
    )
    cache: StepCache = {}  # the resized Stage C latent and the text, mapped at the first step
    cond = (effnet, clip.to(models.stage_dtype(STAGE_DECODER)), cache)
    return _denoise(models, STAGE_DECODER, decoder, cond, z, steps, job.decoder_guidance, run)


def _stage_a(models: StageModels, z: torch.Tensor, run: Run) -> torch.Tensor:
    vqgan = models.vqgan
    latent = (z * vqgan.scale_factor).to(models.stage_dtype(STAGE_VQGAN))
    if models.memory == "low":
        return vqgan.decode_tiled(latent, models.vqgan_tile).float()
    return vqgan.decode(latent).float()


def _encode_pixels(models: StageModels, pixels: torch.Tensor, run: Run) -> torch.Tensor:
    vqgan = models.vqgan
    latent = vqgan.encode(pixels.to(models.device, models.stage_dtype(STAGE_VQGAN)))
    return latent.float() / vqgan.scale_factor


def _denoise(
    models: StageModels,
    stage: str,
    model: nn.Module,
    conditioning: tuple[object, ...],
    x: torch.Tensor,
    timesteps: torch.Tensor,
    guidance: float,
    run: Run,
) -> torch.Tensor:
    dtype = models.stage_dtype(stage)
    return denoise(stage, model, conditioning, x, timesteps, guidance, _sampler(models, stage), dtype, run)


def _sampler(models: StageModels, stage: str) -> WuerstchenSampler:
    src = models.decoder_source if stage == STAGE_DECODER else models.prior_source
    return WuerstchenSampler(src.sampler.s, src.sampler.scaler)
