"""Making one of our files again from its record alone: which checkpoints to load for it, and the recipe
it records (a composition runs Stage C; a blend composes both parents, mixes and decodes)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from wuerstchen_desktop.core.engine.compose import (
    CompositionResult,
    blend_latents,
    compose,
    decode,
    decoding_params,
)
from wuerstchen_desktop.core.errors import WuerstchenError
from wuerstchen_desktop.core.hub.catalogue import CATALOGUE
from wuerstchen_desktop.core.imagefile.record import ImageRecord
from wuerstchen_desktop.core.jobs.records import checked_latent

if TYPE_CHECKING:
    from wuerstchen_desktop.core.engine.outputs import GenerationResult
    from wuerstchen_desktop.core.engine.pipeline import Pipeline
    from wuerstchen_desktop.core.engine.progress import CancelCheck, StepCallback
    from wuerstchen_desktop.core.engine.recipe import Start

# What is said when a result is not identical to the file's. Batched matrix products round differently
# from single ones, and a record does not know the batch its image was made in.
BATCH_NOTE = (
    "Made in a batch of several, an image or composition can differ from one made alone by a level at a "
    "few pixels (batched arithmetic rounds differently); made alone on the same device and precision, it "
    "is identical."
)


def named_model(ref: str, side: str) -> str:
    """The model a file names, when it is one of the published checkpoints or a folder on this disk; a
    file naming anything else could send the download to any repository, so the user chooses."""
    if ref in CATALOGUE or Path(ref).is_dir():
        return ref
    raise WuerstchenError(
        f"The image names the {side} {ref!r}, which is neither a published Würstchen checkpoint nor a "
        "folder on this computer.",
        f"Choose the weights with --{side} REPO_OR_DIR.",
    )


def reproduce(
    pipe: Pipeline,
    record: ImageRecord,
    on_step: StepCallback | None = None,
    cancel: CancelCheck | None = None,
    start: Start | None = None,
) -> GenerationResult | CompositionResult:
    """Make a file's image (or composition) again from its record's parameters alone, without its
    stored latent: a composition runs Stage C; a blend composes both parents, mixes and decodes.
    A stored latent that does not match the record is refused first: the result is compared with it.
    ``start``: the picture's composition, for a file made from a picture."""
    if record.latent is not None:
        checked_latent(pipe, record)
    p = record.params
    if record.kind == "composition":
        return compose(pipe, p, on_step, cancel, start)
    if record.blend is None:
        return pipe.generate(p, on_step, cancel, start)
    first = compose(pipe, p.replace(decoder_seed=None), on_step, cancel, start)
    second = compose(pipe, record.blend.other, on_step, cancel)
    latent = blend_latents(first.stage_c, second.stage_c, record.blend.weight)
    return decode(pipe, latent, [decoding_params(p)], on_step, cancel)
