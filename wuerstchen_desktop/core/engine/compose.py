"""Compose first, decode later: Stage C alone, decoding stored compositions, blends, reproduction.

Würstchen settles an image's composition in its small Stage C latent before it spends most of its time
decoding. ``compose`` runs Stage C only and returns each composition with a preview; ``decode`` turns
stored compositions into images; ``blend_latents`` mixes two of them. Every decode starts from the
latent as files store it (``stored``) with its own generator seeded ``decoder_seed``, so an image decoded
from a composition file is the very image ``Pipeline.generate`` makes from the same parameters, and
``reproduce`` makes any of our files again from its record alone.
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
from wuerstchen_desktop.core.imagefile.metadata import ImageRecord, decode_latent
from wuerstchen_desktop.core.params import GenerationParams, as_batch, per_image

# What reproduce says when its result is not identical to the file's. Batched matrix products round
# differently from single ones, and a record does not know the batch its image was made in.
BATCH_NOTE = (
    "Made in a batch of several, an image or composition can differ from one made alone by a level at a "
    "few pixels (batched arithmetic rounds differently); made alone on the same device and precision, it "
    "is identical."
)


def compose(
    pipe: Pipeline,
    jobs: GenerationParams | Sequence[GenerationParams],
    on_step: StepCallback | None = None,
    cancel: CancelCheck | None = None,
) -> CompositionResult:
    """Stage C alone for every image of ``jobs``: image ``i`` of a job seeded ``S`` is the composition
    that ``generate`` would decode for seed ``S + i``."""
    batch = as_batch(jobs)
    images = per_image(batch)
    warnings = pipe.prompt_warnings(batch)

    def steps() -> torch.Tensor:
        run = Run(image_generators(images), on_step, cancel, warnings)
        return recipe.compose_latents(pipe, batch, run).float().cpu()

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


def record_latent(record: ImageRecord) -> torch.Tensor:
    """The Stage C latent a record stores, ``(1, 16, h, w)`` float32."""
    if record.latent is None:
        raise InvalidParams(
            "This image does not carry its Stage C latent.", "Generate it again from its parameters."
        )
    return torch.from_numpy(decode_latent(record.latent).copy()).float()


def checked_latent(pipe: Pipeline, record: ImageRecord) -> torch.Tensor:
    """A record's stored composition, refused unless it has the shape its recorded size gives."""
    latent = record_latent(record)
    p = record.params
    expected = (1, 16, *pipe.stage_c_size(p.width, p.height))
    if tuple(latent.shape) != expected:
        raise InvalidParams(
            f"The composition stored in this file has the shape {tuple(latent.shape)}, not the {expected} "
            f"its recorded size of {p.width}x{p.height} gives: the file is damaged.",
            "Generate it again from its parameters.",
        )
    return latent


def reproduce(
    pipe: Pipeline,
    record: ImageRecord,
    on_step: StepCallback | None = None,
    cancel: CancelCheck | None = None,
) -> GenerationResult | CompositionResult:
    """Make a file's image (or composition) again from its record's parameters alone, without its
    stored latent: a composition runs Stage C; a blend composes both parents, mixes and decodes.
    A stored latent that does not match the record is refused first: the result is compared with it."""
    if record.latent is not None:
        checked_latent(pipe, record)
    p = record.params
    if record.kind == "composition":
        return compose(pipe, p, on_step, cancel)
    if record.blend is None:
        return pipe.generate(p, on_step, cancel)
    first = compose(pipe, p.replace(decoder_seed=None), on_step, cancel)
    second = compose(pipe, record.blend.other, on_step, cancel)
    latent = blend_latents(first.stage_c, second.stage_c, record.blend.weight)
    return decode(pipe, latent, [decoding_params(p)], on_step, cancel)
