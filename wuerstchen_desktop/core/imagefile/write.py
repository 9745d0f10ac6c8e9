"""Writing images with their parameters: atomic (temporary file, fsync, rename), never over an existing file.

PNG carries a ``parameters`` text chunk (A1111 style) and a compressed ``wuerstchen`` chunk (our JSON
record). JPEG and WebP carry the same ``parameters`` text as EXIF UserComment; the record rides in EXIF
MakerNote in WebP, and in APP11 segments in JPEG, whose EXIF segment is capped at 64 KiB: a JPEG's text
has its prompts cut to fit (``check_fits`` says so before a job), the record keeps them whole. An image
whose metadata cannot be encoded is still saved, with less metadata and a note why.

Reading lives in ``read``, the record and its text in ``record``, the file mechanics in ``core/atomicfile``.
"""

from __future__ import annotations

import dataclasses
import io
import logging
import struct
import time
import zlib
from datetime import datetime
from pathlib import Path
from typing import Any

from PIL import Image, PngImagePlugin

from wuerstchen_desktop.core.atomicfile import (
    write_bytes_atomic,
)
from wuerstchen_desktop.core.errors import InvalidParams, SaveError
from wuerstchen_desktop.core.imagefile.a1111 import encode_user_comment, utf16_units
from wuerstchen_desktop.core.imagefile.parameters_text import format_parameters
from wuerstchen_desktop.core.imagefile.read import (
    EXIF_IFD,
    JPEG_APP11,
    JPEG_RECORD_MAGIC,
    MAKER_NOTE,
    PNG_PARAMETERS_KEY,
    PNG_RECORD_KEY,
    USER_COMMENT,
    open_pixels,
)
from wuerstchen_desktop.core.imagefile.record import Blend, ImageRecord, encode_latent, record_to_json
from wuerstchen_desktop.core.imagefile.record_json import MAX_RECORD_CHARS
from wuerstchen_desktop.core.library.naming import DEFAULT_PATTERN, file_stem
from wuerstchen_desktop.core.params import (
    DEFAULT_DECODER_REPO,
    DEFAULT_PRIOR_REPO,
    GenerationParams,
    stage_c_size,
)

__all__ = ["check_fits", "encode_image", "export_clean", "make_record", "write_image"]

FORMATS = {"png": ("PNG", ".png"), "jpeg": ("JPEG", ".jpg"), "webp": ("WEBP", ".webp")}
EXTENSIONS = {".png": "png", ".jpg": "jpeg", ".jpeg": "jpeg", ".webp": "webp"}
SOFTWARE = 0x0131
EXIF_ROOM = 65533  # the most one JPEG APP1 segment holds after its length (Pillow refuses more)
RECORD_SLACK = 20_000  # the schedule, model ids, revisions and dates a record adds to the params
_ENCODE_ERRORS = (ValueError, OSError, OverflowError, struct.error)
log = logging.getLogger(__name__)


# -- encoding ---------------------------------------------------------------------------------------
def _exif(text: str | None, record_json: str | None) -> bytes:
    exif = Image.Exif()
    exif[SOFTWARE] = "Würstchen Desktop"
    ifd = exif.get_ifd(EXIF_IFD)
    if text is not None:
        ifd[USER_COMMENT] = encode_user_comment(text)
    if record_json is not None:
        ifd[MAKER_NOTE] = record_json.encode("ascii")
    return exif.tobytes()


def _jpeg_with_segments(data: bytes, marker: int, payloads: list[bytes]) -> bytes:
    """Insert APPn segments after the leading APP0/APP1 segments of a JPEG Pillow wrote."""
    pos = 2
    while data[pos] == 0xFF and data[pos + 1] in (0xE0, 0xE1):
        pos += 2 + struct.unpack(">H", data[pos + 2 : pos + 4])[0]
    segments = b"".join(struct.pack(">BBH", 0xFF, marker, len(p) + 2) + p for p in payloads)
    return data[:pos] + segments + data[pos:]


def _jpeg_record_segments(record_json: str) -> list[bytes]:
    packed = zlib.compress(record_json.encode("ascii"), 9)
    room = 65533 - len(JPEG_RECORD_MAGIC) - 4
    pieces = [packed[i : i + room] for i in range(0, len(packed), room)]
    return [JPEG_RECORD_MAGIC + struct.pack(">HH", i, len(pieces)) + p for i, p in enumerate(pieces)]


def jpeg_text_room() -> int:
    """How many UTF-16 code units of A1111 text a JPEG's EXIF segment holds beside our other tags."""
    return (EXIF_ROOM - len(_exif("", None))) // 2


def encode_image(
    image: Image.Image,
    record: ImageRecord,
    fmt: str = "png",
    quality: int = 95,
    *,
    text: bool = True,
    exact: bool = True,
) -> bytes:
    """The bytes of ``image`` in ``fmt`` with the A1111 text (``text``) and our record (``exact``)."""
    _pil_format, _ext = _format(fmt)
    params_text = (format_parameters(record, jpeg_text_room() if fmt == "jpeg" else None)) if text else None
    record_json = record_to_json(record) if exact else None
    buf = io.BytesIO()
    if fmt == "png":
        info = PngImagePlugin.PngInfo()
        if params_text is not None:
            info.add_text(PNG_PARAMETERS_KEY, params_text)  # tEXt when Latin-1, else iTXt, as A1111 does
        if record_json is not None:
            info.add_text(PNG_RECORD_KEY, record_json, zip=True)
        image.save(buf, format="PNG", pnginfo=info)
        return buf.getvalue()
    rgb = image if image.mode in ("RGB", "L") or fmt == "webp" else image.convert("RGB")
    if fmt == "webp":
        exif = _exif(params_text, record_json) if text or exact else b""
        rgb.save(buf, format="WEBP", quality=quality, exif=exif)
        return buf.getvalue()
    rgb.save(buf, format="JPEG", quality=quality, exif=_exif(params_text, None) if text else b"")
    if record_json is None:
        return buf.getvalue()
    return _jpeg_with_segments(buf.getvalue(), JPEG_APP11, _jpeg_record_segments(record_json))


def _encode_or_less(image: Image.Image, record: ImageRecord, fmt: str, notes: list[str] | None) -> bytes:
    """The file's bytes; when its metadata cannot be encoded, the image with less of it, and a note why."""
    try:
        return encode_image(image, record, fmt)
    except _ENCODE_ERRORS as exc:
        first = exc
    log.warning("embedding the parameters in a %s file failed: %s", fmt, first, exc_info=first)
    for text, exact, kept in ((False, True, "only its exact record"), (False, False, "no parameters")):
        try:
            data = encode_image(image, record, fmt, text=text, exact=exact)
        except _ENCODE_ERRORS:
            continue
        note = f"The parameters could not all be embedded in the {fmt.upper()} file ({first}): "
        note += f"it was saved with {kept}."
        log.warning("%s", note)
        if notes is not None:
            notes.append(note)
        return data
    raise SaveError(f"The image could not be encoded as {fmt.upper()}: {first}.", "Choose another format.")


def check_fits(params: GenerationParams, fmt: str = "png") -> list[str]:
    """Before a job: whether its images can carry their parameters in ``fmt``.

    Raises ``InvalidParams`` when the record would be too long to read back; returns notes to show the
    user otherwise (a JPEG's A1111 text has its prompts cut when they do not fit EXIF).
    """
    _format(fmt)
    record = ImageRecord(params)
    h, w = stage_c_size(params.width, params.height)
    latent = (16 * w * h * 2 + 256) * 4 // 3 + 4  # one float16 latent in safetensors, as base64
    size = len(record_to_json(record)) + latent + RECORD_SLACK
    if size > MAX_RECORD_CHARS:
        raise InvalidParams(
            f"The prompts are too long to be saved with the images ({size:,} characters of record; "
            f"at most {MAX_RECORD_CHARS:,} can be read back).",
            "Shorten them: the text encoder reads only the first 77 tokens of each.",
        )
    if fmt == "jpeg" and utf16_units(format_parameters(record)) > jpeg_text_room():
        return [
            "The prompts are too long for a JPEG's EXIF text: other tools will see them cut short, while "
            "Würstchen Desktop reads them whole from the image's own record. Choose PNG to keep them whole "
            "for every tool."
        ]
    return []


def _format(fmt: str) -> tuple[str, str]:
    if fmt not in FORMATS:
        raise InvalidParams(f"Unknown image format {fmt!r}.", f"Choose one of {', '.join(FORMATS)}.")
    return FORMATS[fmt]


def make_record(
    params: GenerationParams,
    latent: Any = None,
    prior_model: str = DEFAULT_PRIOR_REPO,
    decoder_model: str = DEFAULT_DECODER_REPO,
    prior_revision: str | None = None,
    decoder_revision: str | None = None,
    model_hash: str | None = None,
    *,
    kind: str = "image",
    blend: Blend | None = None,
) -> ImageRecord:
    """The record of one generated image (or composition); ``latent`` is its Stage C latent,
    ``(16, h, w)`` or batched."""
    from wuerstchen_desktop.core.engine.schedule import prior_timesteps

    if latent is not None and hasattr(latent, "detach"):
        latent = latent.detach().float().cpu().numpy()
    return ImageRecord(
        params,
        prior_model,
        decoder_model,
        prior_revision,
        decoder_revision,
        model_hash,
        tuple(float(t) for t in prior_timesteps(params.prior_steps).tolist()),
        latent=None if latent is None else encode_latent(latent),
        kind=kind,
        blend=blend,
    )


def write_image(
    image: Image.Image,
    record: ImageRecord,
    folder: Path,
    fmt: str = "png",
    pattern: str = DEFAULT_PATTERN,
    when: float | None = None,
    notes: list[str] | None = None,
) -> Path:
    """Save ``image`` with its parameters under ``folder`` as ``pattern`` names it; return the path.

    The file appears under its final name only once complete on disk, and never replaces another file.
    ``record.created`` is filled in from ``when`` (default: now) if empty. Metadata that cannot be
    encoded never costs the image: it is saved with less, and a sentence saying so goes to ``notes``.
    """
    _pil_format, ext = _format(fmt)
    when = time.time() if when is None else when
    stem = file_stem(pattern, record.params, when)
    if not record.created:
        created = datetime.fromtimestamp(when).astimezone().isoformat(timespec="milliseconds")
        record = dataclasses.replace(record, created=created)
    return write_bytes_atomic(_encode_or_less(image, record, fmt, notes), folder, stem, ext)


def export_clean(src: Path, folder: Path, stem: str | None = None) -> Path:
    """A copy of ``src`` for sharing with every piece of metadata stripped (text, EXIF, ICC, XMP)."""
    fmt = EXTENSIONS.get(src.suffix.lower(), "png")
    pil_format, ext = _format(fmt)
    with open_pixels(src) as im:
        if im.mode not in ("RGB", "RGBA", "L", "LA"):
            im = im.convert("RGBA" if "transparency" in im.info or "A" in im.mode else "RGB")
        if fmt == "jpeg" and im.mode not in ("RGB", "L"):
            im = im.convert("RGB")
        # A fresh image from raw pixels carries no info dict, so nothing can leak through Pillow.
        bare = Image.frombytes(im.mode, im.size, im.tobytes())
    buf = io.BytesIO()
    bare.save(buf, format=pil_format, **({"quality": 95} if fmt != "png" else {}))
    return write_bytes_atomic(buf.getvalue(), folder, stem or f"{src.stem}-shared", ext)
