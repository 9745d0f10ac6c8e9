"""What a file records of how its image was made, built from the pipeline that made it, and the stored
composition read back from a record. The engine makes tensors; the files are this package's concern."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from wuerstchen_desktop.core.errors import InvalidParams
from wuerstchen_desktop.core.imagefile.record import Blend, ImageRecord, decode_latent
from wuerstchen_desktop.core.imagefile.write import make_record
from wuerstchen_desktop.core.params import GenerationParams, composition_size, stage_c_size

if TYPE_CHECKING:
    from wuerstchen_desktop.core.engine.pipeline import Pipeline


def image_record(
    pipe: Pipeline,
    params: GenerationParams,
    stage_c: torch.Tensor | None,
    *,
    kind: str = "image",
    blend: Blend | None = None,
) -> ImageRecord:
    """What an image file records of how ``pipe`` made it: the job, the exact weights, its Stage C latent
    (and for a blend, the second composition)."""
    sha = pipe.prior_source.weights_sha256()
    return make_record(
        params,
        stage_c,
        prior_model=pipe.prior_source.ref,
        decoder_model=pipe.decoder_source.ref,
        prior_revision=pipe.prior_source.commit,
        decoder_revision=pipe.decoder_source.commit,
        model_hash=sha[:10] if sha else None,
        kind=kind,
        blend=blend,
    )


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
    width, height = composition_size(record.params)  # an upscale's composition is half its size
    expected = (1, 16, *stage_c_size(width, height, pipe.prior_source.resolution_multiple))
    if tuple(latent.shape) != expected:
        raise InvalidParams(
            f"The composition stored in this file has the shape {tuple(latent.shape)}, not the {expected} "
            f"its recorded size of {width}x{height} gives: the file is damaged.",
            "Generate it again from its parameters.",
        )
    return latent
