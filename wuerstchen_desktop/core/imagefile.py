"""Writing images with their parameters: atomic (temporary file, fsync, rename), never over an existing file.

PNG carries a ``parameters`` text chunk (A1111 style) and a compressed ``wuerstchen`` chunk (our JSON
record). JPEG and WebP carry the same ``parameters`` text as EXIF UserComment; the record rides in EXIF
MakerNote in WebP, and in APP11 segments in JPEG, whose EXIF segment is capped at 64 KiB.

Reading lives in ``imageread``; its entry points are re-exported here.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import io
import os
import struct
import tempfile
import time
import zlib
from datetime import datetime
from pathlib import Path
from typing import Any

from PIL import Image, PngImagePlugin

from wuerstchen_desktop.core.errors import InvalidParams, WuerstchenError
from wuerstchen_desktop.core.imageread import (
    EXIF_IFD,
    JPEG_APP11,
    JPEG_RECORD_MAGIC,
    MAKER_NOTE,
    PNG_PARAMETERS_KEY,
    PNG_RECORD_KEY,
    USER_COMMENT,
    open_pixels,
    read_parameters,
    read_record,
)
from wuerstchen_desktop.core.metadata import (
    DEFAULT_PATTERN,
    FLAT_PATTERN,
    Blend,
    ImageParameters,
    ImageReadError,
    ImageRecord,
    NoParametersFound,
    encode_latent,
    encode_user_comment,
    file_stem,
    format_parameters,
    record_to_json,
    slug,
)
from wuerstchen_desktop.core.params import DEFAULT_DECODER_REPO, DEFAULT_PRIOR_REPO, GenerationParams

# Naming and the metadata types live in ``metadata``; they are re-exported for callers of the writer.
__all__ = [
    "DEFAULT_PATTERN",
    "FLAT_PATTERN",
    "ImageParameters",
    "ImageReadError",
    "ImageRecord",
    "NoParametersFound",
    "SaveError",
    "encode_image",
    "export_clean",
    "make_record",
    "open_pixels",
    "read_parameters",
    "read_record",
    "slug",
    "write_bytes_atomic",
    "write_image",
]

FORMATS = {"png": ("PNG", ".png"), "jpeg": ("JPEG", ".jpg"), "webp": ("WEBP", ".webp")}
EXTENSIONS = {".png": "png", ".jpg": "jpeg", ".jpeg": "jpeg", ".webp": "webp"}
SOFTWARE = 0x0131
SAVE_HINT = "Free some disk space or choose another output folder; earlier images are untouched."


class SaveError(WuerstchenError):
    """An image could not be written; nothing already on disk was touched."""


# -- encoding ---------------------------------------------------------------------------------------
def _exif(text: str, record_json: str | None) -> bytes:
    exif = Image.Exif()
    exif[SOFTWARE] = "Würstchen Desktop"
    ifd = exif.get_ifd(EXIF_IFD)
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


def encode_image(image: Image.Image, record: ImageRecord, fmt: str = "png", quality: int = 95) -> bytes:
    """The bytes of ``image`` in ``fmt`` with both the A1111 text and our record embedded."""
    _pil_format, _ext = _format(fmt)
    text = format_parameters(record)
    record_json = record_to_json(record)
    buf = io.BytesIO()
    if fmt == "png":
        info = PngImagePlugin.PngInfo()
        info.add_text(PNG_PARAMETERS_KEY, text)  # tEXt when Latin-1, else iTXt, as A1111 does
        info.add_text(PNG_RECORD_KEY, record_json, zip=True)
        image.save(buf, format="PNG", pnginfo=info)
        return buf.getvalue()
    rgb = image if image.mode in ("RGB", "L") or fmt == "webp" else image.convert("RGB")
    if fmt == "webp":
        rgb.save(buf, format="WEBP", quality=quality, exif=_exif(text, record_json))
        return buf.getvalue()
    rgb.save(buf, format="JPEG", quality=quality, exif=_exif(text, None))
    return _jpeg_with_segments(buf.getvalue(), JPEG_APP11, _jpeg_record_segments(record_json))


def _format(fmt: str) -> tuple[str, str]:
    if fmt not in FORMATS:
        raise InvalidParams(f"Unknown image format {fmt!r}.", f"Choose one of {', '.join(FORMATS)}.")
    return FORMATS[fmt]


# -- atomic, never-overwriting files ----------------------------------------------------------------
def link_no_replace(src: Path, dst: Path) -> bool:
    """Give ``src`` the name ``dst`` unless ``dst`` exists; True on success (``src`` is then gone)."""
    try:
        os.link(src, dst)  # atomic, and fails if dst exists
    except FileExistsError:
        return False
    except OSError:
        # File systems without hard links: rename (Windows refuses to replace; elsewhere check first).
        if dst.exists():
            return False
        try:
            os.rename(src, dst)
        except FileExistsError:
            return False
        return True
    os.unlink(src)
    return True


def move_no_replace(src: Path, folder: Path, stem: str, ext: str) -> Path:
    """Move ``src`` to ``folder/stem.ext``, or ``stem-2.ext``... if taken; never replaces a file."""
    for n in range(1, 10_000):
        dst = folder / (f"{stem}{ext}" if n == 1 else f"{stem}-{n}{ext}")
        if link_no_replace(src, dst):
            fsync_dir(folder)
            return dst
    raise SaveError(f"Too many files named {stem} in {folder}.", "Choose another output folder.")


def _save_error(exc: OSError, folder: Path) -> SaveError:
    if exc.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)):
        return SaveError(f"The disk is full: the image could not be saved in {folder}.", SAVE_HINT)
    return SaveError(
        f"Could not save the image in {folder}: {exc.strerror or exc}.",
        "Check that the folder exists and that you may write there; earlier images are untouched.",
    )


def write_temp(data: bytes, folder: Path, suffix: str) -> Path:
    """``data`` in a new hidden temporary file in ``folder`` (created if needed), on disk (fsync)."""
    folder.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=".tmp-", suffix=suffix, dir=folder)
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)
        raise
    return Path(tmp_name)


def replace_atomic(data: bytes, dst: Path) -> None:
    """``dst`` holds ``data`` complete, or is left as it was: a temporary file, fsync, rename over it."""
    tmp = write_temp(data, dst.parent, dst.suffix)
    try:
        os.replace(tmp, dst)
        fsync_dir(dst.parent)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def write_bytes_atomic(data: bytes, folder: Path, stem: str, ext: str) -> Path:
    """Write ``data`` as ``folder/stem+ext`` (``stem`` may hold ``/``), appearing only once complete."""
    target = Path(folder).joinpath(*stem.split("/"))
    parent, name = target.parent, target.name
    try:
        tmp = write_temp(data, parent, ext)
        try:
            return move_no_replace(tmp, parent, name, ext)
        finally:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
    except OSError as exc:
        raise _save_error(exc, parent) from exc


def fsync_dir(folder: Path) -> None:
    if os.name == "nt":
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


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
    from wuerstchen_desktop.core.schedule import prior_timesteps

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
) -> Path:
    """Save ``image`` with its parameters under ``folder`` as ``pattern`` names it; return the path.

    The file appears under its final name only once complete on disk, and never replaces another file.
    ``record.created`` is filled in from ``when`` (default: now) if empty.
    """
    _pil_format, ext = _format(fmt)
    when = time.time() if when is None else when
    stem = file_stem(pattern, record.params, when)
    if not record.created:
        created = datetime.fromtimestamp(when).astimezone().isoformat(timespec="milliseconds")
        record = dataclasses.replace(record, created=created)
    return write_bytes_atomic(encode_image(image, record, fmt), folder, stem, ext)


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
