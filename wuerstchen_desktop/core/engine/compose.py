"""Compose first, decode later: Stage C alone, decoding stored compositions, blends.

Würstchen settles an image's composition in its small Stage C latent before it spends most of its time
decoding. ``compose`` runs Stage C only and returns each composition with a preview; ``decode`` turns
stored compositions into images; ``blend_latents`` mixes two of them. Every decode starts from the
latent as files store it (``stored``) with its own generator seeded ``decoder_seed``, so an image decoded
from a composition file is the very image ``Pipeline.generate`` makes from the same parameters.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from wuerstchen_desktop.core.engine import recipe
from wuerstchen_desktop.core.engine.noise import decoder_generators, image_generators
from wuerstchen_desktop.core.engine.outputs import CompositionResult, GenerationResult, stored, to_pil
from wuerstchen_desktop.core.engine.pipeline import Pipeline
from wuerstchen_desktop.core.engine.progress import CancelCheck, Run, StepCallback
from wuerstchen_desktop.core.errors import InvalidParams
from wuerstchen_desktop.core.params import GenerationParams, as_batch, per_image


def compose(
    pipe: Pipeline,
    jobs: GenerationParams | Sequence[GenerationParams],
    on_step: StepCallback | None = None,
    cancel: CancelCheck | None = None,
    start: recipe.Start | None = None,
) -> CompositionResult:
    """Stage C alone for every image of ``jobs``: image ``i`` of a job seeded ``S`` is the composition
    that ``generate`` would decode for seed ``S + i`` (from the same ``start``, if any)."""
    batch = as_batch(jobs)
    images = per_image(batch)
    warnings = pipe.prompt_warnings(batch)

    def steps() -> torch.Tensor:
        run = Run(image_generators(images), on_step, cancel, warnings)
        return recipe.compose_latents(pipe, batch, run, start).float().cpu()

    stage_c = pipe.run(steps, warnings)
    previews = to_pil(pipe.preview(pipe.prior_space(stage_c)))
    return CompositionResult(stage_c, previews, pipe.previews_approximate, images, warnings)


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
    images = as_batch(params)
    if len(images) != latents.shape[0] or any(p.images != 1 or p.decoder_seed is None for p in images):
        raise InvalidParams("Each stored composition needs its own parameters with a decoder seed.")
    warnings = pipe.prompt_warnings(images)
    latents = stored(latents)

    def steps() -> torch.Tensor:
        run = Run(decoder_generators(images), on_step, cancel, warnings)
        return recipe.decode_latents(pipe, latents, images, run)

    pixels = pipe.run(steps, warnings)
    return GenerationResult(to_pil(pixels), pixels, latents, images, warnings)
