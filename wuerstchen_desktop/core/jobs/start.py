"""Starting from a picture (image-to-image): the file a job starts Stage C from, and its composition.

A picture made here carries its Stage C latent, so it needs no image encoder: the job starts from that
composition. Any other picture is read (turned upright, made sRGB, fitted to the job's size: see
``imagefile/source.py``) and encoded by the image encoder, whose weights must be on this computer. The file
is named in the job's parameters by its sha256, so that ``reproduce`` can tell the right picture from
another.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from wuerstchen_desktop.core.errors import InvalidParams, NoParametersFound
from wuerstchen_desktop.core.imagefile.read import open_regular, read_record
from wuerstchen_desktop.core.imagefile.record import ImageRecord
from wuerstchen_desktop.core.jobs.records import record_latent
from wuerstchen_desktop.core.params import DEFAULT_STRENGTH, GenerationParams, composition_size

if TYPE_CHECKING:
    from wuerstchen_desktop.core.engine.pipeline import Pipeline
    from wuerstchen_desktop.core.engine.recipe import Start


@dataclass(frozen=True)
class Picture:
    """A picture to start from: its file, the file's sha256, and our record when it holds one."""

    path: Path
    sha256: str
    record: ImageRecord | None


def read_picture(path: Path) -> Picture:
    """The picture's sha256 (of the file as it is) and our record, if it has one."""
    digest = hashlib.sha256()
    with open_regular(path) as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    try:
        record: ImageRecord | None = read_record(path)
    except NoParametersFound:
        record = None
    return Picture(path, digest.hexdigest(), record)


def starting_point(
    path: Path | None, strength: float | None
) -> tuple[tuple[tuple[str, Any], ...], Path | None]:
    """The job changes and the picture of a job asked to start from the picture at ``path`` with ``strength``
    (default ``DEFAULT_STRENGTH``): the runner names the picture as the job's source, as for the window's
    variations. No picture: from text. Strength 1 ignores the picture."""
    if path is None:
        if strength is not None:
            raise InvalidParams("A strength goes with a picture to start from.", "Give the picture.")
        return (), None
    strength = DEFAULT_STRENGTH if strength is None else strength
    return (("strength", strength),), (path if strength < 1 else None)


def with_picture(params: GenerationParams, picture: Picture | None) -> GenerationParams:
    """``params`` naming ``picture`` as their source, when the job starts from one. A job whose parameters
    already name a source (reproducing a file) must be given that very picture."""
    if params.source is None:
        if picture is not None:
            raise InvalidParams(
                "A picture to start from needs a strength below 1.", "Choose a strength below 1."
            )
        return params
    if picture is None:
        raise InvalidParams(
            "This job starts from a picture, and none was given.",
            "Give the picture it starts from, or start from text with strength 1.",
        )
    if params.source is not None and params.source != picture.sha256:
        raise InvalidParams(
            f"{picture.path.name} is not the picture this image was made from (its sha256 differs).",
            "Give the very file it was made from.",
        )
    if picture.record is None or picture.record.latent is None:
        if encoder_file() is None:
            raise InvalidParams(
                f"{picture.path.name} was not made here, and starting from such a picture needs the image "
                "encoder, which is not on this computer.",
                "Fetch it with `wuerstchen-desktop download --encoder` (about 81 MB), or start from an image "
                "made with this app: it carries its composition.",
            )
        return _named(params, picture)
    made, (width, height) = picture.record.params, composition_size(params)
    if not _composition_fits(picture, params) and encoder_file() is None:
        mw, mh = composition_size(made)
        raise InvalidParams(
            f"{picture.path.name} was composed at {mw}x{mh}, not at this job's {width}x{height}; another "
            "size needs the image encoder.",
            f"Start from it at {mw}x{mh}, or fetch the encoder with `wuerstchen-desktop download --encoder`.",
        )
    return _named(params, picture)


def _named(params: GenerationParams, picture: Picture) -> GenerationParams:
    width, height = picture_size(picture.path) or (None, None)
    return params.replace(source=picture.sha256, source_width=width, source_height=height)


def picture_size(path: Path) -> tuple[int, int] | None:
    """A picture's width and height as a person sees it (turned as its EXIF orientation says), read from
    its header; None when its header cannot be read (reading its pixels then says why)."""
    from PIL import Image

    try:
        with open_regular(path) as f, Image.open(f) as im:
            width, height = im.size
            orientation = im.getexif().get(0x0112)  # EXIF Orientation: 5 to 8 turn it a quarter
    except Exception:  # Pillow raises many types for damaged headers and EXIF
        return None
    return (height, width) if orientation in (5, 6, 7, 8) else (width, height)


def _composition_fits(picture: Picture, params: GenerationParams) -> bool:
    """Whether the picture's stored composition is the job's start: ours, and made at the job's size.
    Otherwise its pixels go through the image encoder."""
    record = picture.record
    if record is None or record.latent is None:
        return False
    return composition_size(record.params) == composition_size(params)


def encoder_file() -> Path | None:
    """The image encoder's weights on this computer, if any."""
    from wuerstchen_desktop.core.engine.encoder_weights import find_encoder_weights

    return find_encoder_weights()


def start_for(pipe: Pipeline, params: GenerationParams, picture: Picture) -> tuple[Start, list[str]]:
    """Where Stage C starts for ``params`` from ``picture`` (checked by ``with_picture``), in the prior
    sampler's space: its stored composition, or its pixels through the image encoder (with notes saying
    what was done to the picture to fit the job)."""
    from wuerstchen_desktop.core.engine.recipe import Start

    if picture.record is not None and _composition_fits(picture, params):
        return Start(pipe.prior_space(record_latent(picture.record)), params.strength), []
    import numpy as np
    import torch

    from wuerstchen_desktop.core.engine.image_encoder import load_encoder
    from wuerstchen_desktop.core.imagefile.source import read_source
    from wuerstchen_desktop.core.models.effnet_encoder import encode_image
    from wuerstchen_desktop.core.params import stage_c_size

    weights = encoder_file()
    if weights is None:
        raise InvalidParams("The image encoder is no longer on this computer.", "Start from text.")
    source = read_source(picture.path, target=(params.width, params.height))
    if source.sha256 != picture.sha256:
        raise InvalidParams(f"{picture.path.name} changed while the job waited.", "Start the job again.")
    pixels = torch.from_numpy(np.asarray(source.image).copy()).permute(2, 0, 1)[None].float() / 255
    encoder = load_encoder(weights, pipe.device, torch.float32)  # small; bfloat16 is slow on CPUs
    hw = stage_c_size(params.width, params.height, pipe.prior_source.resolution_multiple)
    latent = encode_image(encoder, pixels, hw).float()
    del encoder
    return Start(latent, params.strength), list(source.notes)
