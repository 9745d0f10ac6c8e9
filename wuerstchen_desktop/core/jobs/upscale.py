"""Upscale 2x (experimental until seen on the real weights): a picture drawn again by Stage B at twice its
size, from its composition and its own pixels.

The composition is the one a file of ours stores; any other picture is encoded by the image encoder, as
for image-to-image. Below strength 1 Stage B starts from the VQGAN encoding of the picture enlarged 2x
with Lanczos (it keeps edges sharper than bicubic; the detail it cannot invent, Stage B draws anew),
noised to the strength on the decoder's schedule: the content stays, the fine detail is redrawn.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from wuerstchen_desktop.core.errors import InvalidParams
from wuerstchen_desktop.core.jobs.records import checked_latent
from wuerstchen_desktop.core.jobs.start import Picture, with_picture
from wuerstchen_desktop.core.params import (
    DEFAULT_UPSCALE_STRENGTH,
    MAX_SIZE,
    UPSCALE_LARGEST,
    GenerationParams,
    composition_size,
    random_seed,
    size_for_aspect,
)

if TYPE_CHECKING:
    import torch

    from wuerstchen_desktop.core.engine.pipeline import Pipeline

FACTOR = 2
LARGEST = UPSCALE_LARGEST
__all__ = ["DEFAULT_UPSCALE_STRENGTH", "upscale_inputs", "upscale_params"]


def _too_large(name: str, width: int, height: int) -> InvalidParams:
    return InvalidParams(
        f"{name} is {width}x{height}; Upscale 2x makes at most {MAX_SIZE}x{MAX_SIZE}, so the largest picture "
        f"it takes is {LARGEST}x{LARGEST} ({LARGEST} pixels a side).",
        f"Upscale a picture of at most {LARGEST} pixels a side.",
    )


def upscale_params(picture: Picture, changes: dict[str, Any]) -> GenerationParams:
    """What an Upscale 2x of ``picture`` records: for a file of ours its own job, at twice its size; for
    another picture the prompt given (or none), at twice the valid size nearest its own. ``changes`` may
    name ``strength``, ``decoder_seed`` (the noise's seed; default random) and ``prompt``."""
    from wuerstchen_desktop.core.imagefile.source import read_source

    name, record = picture.path.name, picture.record
    strength = changes.get("strength", DEFAULT_UPSCALE_STRENGTH)
    seed = changes.get("decoder_seed")
    seed = random_seed() if seed is None else seed
    if record is not None and record.latent is not None:
        if record.kind == "composition":
            raise InvalidParams(
                f"{name} is a composition, not decoded yet.", "Decode it first, then upscale the image."
            )
        if record.params.upscale > 1:
            raise InvalidParams(f"{name} is already upscaled.", "Upscale the picture it was made from.")
        base = record.params.replace(images=1, decoder_seed=None, strength=1.0, source=None)
        base = base.replace(source_width=None, source_height=None)
        width, height = original = composition_size(base)
        if width > LARGEST or height > LARGEST:
            raise _too_large(name, width, height)
    else:
        original = read_source(picture.path).original_size
        if max(original) > LARGEST:
            raise _too_large(name, *original)
        w, h = original
        width, height = size_for_aspect(w / h, min(w * h, LARGEST * LARGEST), largest=LARGEST)
        base = GenerationParams("", width=width, height=height, seed=seed)
    if "prompt" in changes:
        base = base.replace(prompt=changes["prompt"])
    params = base.replace(
        width=width * FACTOR,
        height=height * FACTOR,
        upscale=FACTOR,
        strength=strength,
        source=picture.sha256,
        source_width=original[0],
        source_height=original[1],
        decoder_seed=seed,
    )
    return with_picture(params, picture)


def upscale_inputs(
    pipe: Pipeline, params: GenerationParams, picture: Picture
) -> tuple[torch.Tensor, torch.Tensor | None, list[str]]:
    """The composition ``(1, 16, h, w)`` in the decoder's space, the picture enlarged 2x ``(1, 3, H, W)``
    in [0, 1] (None at strength 1, which draws from noise alone), and notes on what was done to it."""
    import numpy as np
    import torch
    from PIL import Image

    from wuerstchen_desktop.core.imagefile.source import read_source

    width, height = composition_size(params)
    record = picture.record
    own = record if record is not None and record.latent is not None else None
    if own is not None and params.strength >= 1:
        return checked_latent(pipe, own), None, []
    source = read_source(picture.path, target=(width, height))
    if source.sha256 != picture.sha256:
        raise InvalidParams(f"{picture.path.name} changed while the job waited.", "Start the job again.")
    encoded = checked_latent(pipe, own) if own is not None else None
    stage_c = encoded if encoded is not None else _encoded(pipe, source.image, width, height)
    pixels = None
    if params.strength < 1:
        big = source.image.resize((width * FACTOR, height * FACTOR), Image.Resampling.LANCZOS)
        pixels = torch.from_numpy(np.asarray(big).copy()).permute(2, 0, 1)[None].float() / 255
    return stage_c, pixels, list(source.notes)


def _encoded(pipe: Pipeline, image: Any, width: int, height: int) -> torch.Tensor:
    """A picture's composition by the image encoder, in the decoder's space (as Stage C leaves it)."""
    import numpy as np
    import torch

    from wuerstchen_desktop.core.engine.image_encoder import load_encoder
    from wuerstchen_desktop.core.jobs.start import encoder_file
    from wuerstchen_desktop.core.models.effnet_encoder import encode_image
    from wuerstchen_desktop.core.params import stage_c_size

    weights = encoder_file()
    if weights is None:
        raise InvalidParams("The image encoder is no longer on this computer.", "Fetch it again.")
    pixels = torch.from_numpy(np.asarray(image).copy()).permute(2, 0, 1)[None].float() / 255
    encoder = load_encoder(weights, pipe.device, torch.float32)
    hw = stage_c_size(width, height, pipe.prior_source.resolution_multiple)
    with torch.inference_mode():
        latent = encode_image(encoder, pixels, hw).float().cpu()
    src = pipe.prior_source
    return latent * src.latent_mean - src.latent_std
