"""Compose first, decode later: Stage C alone, decoding stored compositions, blends.

Würstchen settles an image's composition in its small Stage C latent before it spends most of its time
decoding. ``compose`` runs Stage C only and returns each composition with a preview; ``decode`` turns
stored compositions into images; ``blend_latents`` mixes two of them. Every decode starts from the
latent as files store it (``stored``) with its own generator seeded ``decoder_seed``, so an image decoded
from a composition file is the very image ``Pipeline.generate`` makes from the same parameters.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
from PIL import Image

from wuerstchen_desktop.core.engine.pipeline import Pipeline
from wuerstchen_desktop.core.engine.results import (
    CancelCheck,
    GenerationResult,
    StepCallback,
    check_batchable,
    stored,
    to_pil,
)
from wuerstchen_desktop.core.errors import InvalidParams
from wuerstchen_desktop.core.params import GenerationParams


@dataclass
class CompositionResult:
    """Stage C results of a compose job, in prompt-major order, each with its preview."""

    stage_c: torch.Tensor  # (B, 16, h, w) float32 on the CPU: the decoder's conditioning
    previews: list[Image.Image]  # the previewer's pixels: 4x the latent's size (96x96 at 1024x1024)
    approximate: bool  # previews from the cheap approximation, not the previewer network
    params: list[GenerationParams]  # one per composition (images=1)
    warnings: list[str] = field(default_factory=list)


def compose(
    pipe: Pipeline,
    jobs: GenerationParams | Sequence[GenerationParams],
    on_step: StepCallback | None = None,
    cancel: CancelCheck | None = None,
) -> CompositionResult:
    """Stage C alone for every image of ``jobs``: image ``i`` of a job seeded ``S`` is the composition
    that ``generate`` would decode for seed ``S + i``."""
    jobs = [jobs] if isinstance(jobs, GenerationParams) else list(jobs)
    check_batchable(jobs)
    warnings = pipe.prompt_warnings(jobs)

    def task() -> torch.Tensor:
        generators = [
            torch.Generator("cpu").manual_seed(job.seed + i) for job in jobs for i in range(job.images)
        ]
        return pipe.run_prior(jobs, generators, on_step, cancel, warnings=warnings).float().cpu()

    stage_c = pipe.run(task, warnings)
    previews = to_pil(pipe.preview(pipe.prior_space(stage_c)))
    params = [job.for_image(i) for job in jobs for i in range(job.images)]
    return CompositionResult(stage_c, previews, pipe.previews_approximate, params, warnings)


def blend_latents(first: torch.Tensor, second: torch.Tensor, weight: float) -> torch.Tensor:
    """``first`` mixed with ``weight`` of ``second`` (0: all first, 1: all second), as stored."""
    if first.shape != second.shape:
        raise InvalidParams(
            "These two compositions have different sizes and cannot be blended.",
            "Pick two compositions made at the same image size.",
        )
    return stored(torch.lerp(stored(first), stored(second), float(weight)))


def decoding_params(params: GenerationParams, **changes: object) -> GenerationParams:
    """The parameters that decode a stored composition: one image, with a decoder seed (the
    composition's own seed unless ``changes`` give one)."""
    out = params.replace(images=1, **changes)
    return out if out.decoder_seed is not None else out.replace(decoder_seed=out.seed)


def decode(
    pipe: Pipeline,
    latents: torch.Tensor,
    params: Sequence[GenerationParams],
    on_step: StepCallback | None = None,
    cancel: CancelCheck | None = None,
) -> GenerationResult:
    """Stage B and Stage A for stored compositions ``(B, 16, h, w)``, one ``params`` each (images=1,
    decoder seed set)."""
    params = list(params)
    check_batchable(params)
    if len(params) != latents.shape[0] or any(p.images != 1 or p.decoder_seed is None for p in params):
        raise InvalidParams("Each stored composition needs its own parameters with a decoder seed.")
    warnings = pipe.prompt_warnings(params)
    latents = stored(latents)

    def task() -> torch.Tensor:
        generators = [torch.Generator("cpu").manual_seed(int(p.decoder_seed or 0)) for p in params]
        return pipe.run_decoder(latents, params, generators, on_step, cancel, warnings=warnings)

    pixels = pipe.run(task, warnings)
    return GenerationResult(to_pil(pixels), pixels, latents, params, warnings)
