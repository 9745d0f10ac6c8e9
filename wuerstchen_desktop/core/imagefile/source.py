"""A picture to start from: any file a person drops, opens or pastes, made ready for image-to-image.

The result is an 8-bit sRGB image at a size Würstchen makes, with a sentence for every change a person
could see or would want to know about. Lossless changes of representation (a palette or greyscale
picture spread to red, green and blue) are not noted. Nothing is ever written.
"""

from __future__ import annotations

import hashlib
import io
import os
import stat
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from wuerstchen_desktop.core.errors import ImageReadError, InvalidParams
from wuerstchen_desktop.core.imagefile.read import open_pixels, open_regular
from wuerstchen_desktop.core.params import MAX_SIZE, MIN_SIZE, SIZE_STEP, nearest_valid_sizes, size_for_aspect

try:  # Pillow built without Little CMS reads colours as stored, and says so
    from PIL import ImageCms
except ImportError:  # pragma: no cover - every wheel on PyPI has it
    ImageCms = None  # type: ignore[assignment]

DEFAULT_AREA = 1024 * 1024  # a picture is reduced to about this many pixels unless a target size is given
MAX_FILE_BYTES = 1 << 30
PASTED = "The pasted image"
EXIF_ORIENTATION = 0x0112
# EXIF orientation -> (what turns the stored pixels upright, what a person is told)
ORIENTATIONS = {
    2: (Image.Transpose.FLIP_LEFT_RIGHT, "mirrored left to right"),
    3: (Image.Transpose.ROTATE_180, "turned 180°"),
    4: (Image.Transpose.FLIP_TOP_BOTTOM, "flipped top to bottom"),
    5: (Image.Transpose.TRANSPOSE, "turned 90° clockwise and mirrored"),
    6: (Image.Transpose.ROTATE_270, "turned 90° clockwise"),
    7: (Image.Transpose.TRANSVERSE, "turned 90° anticlockwise and mirrored"),
    8: (Image.Transpose.ROTATE_90, "turned 90° anticlockwise"),
}
FORMATS = "PNG, JPEG, WebP, BMP, TIFF or GIF"
SIGNATURES = (
    (b"\x89PNG\r\n\x1a\n", "PNG"),
    (b"\xff\xd8\xff", "JPEG"),
    (b"GIF8", "GIF"),
    (b"BM", "BMP"),
    (b"II*\0", "TIFF"),
    (b"MM\0*", "TIFF"),
)


def _kind(data: bytes) -> str | None:
    """The format a file's first bytes announce, whether or not the rest is sound."""
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WebP"
    return next((name for magic, name in SIGNATURES if data.startswith(magic)), None)


@dataclass(frozen=True)
class SourceImage:
    """A picture ready for the image encoder.

    ``image`` is RGB, 8 bits a channel, sRGB, exactly ``size``; ``sha256`` is of the file's bytes as read;
    ``original_size`` is the picture's width and height as a person sees it (upright); ``notes`` holds one
    plain sentence for each thing done to it.
    """

    image: Image.Image
    sha256: str
    original_size: tuple[int, int]
    size: tuple[int, int]
    notes: tuple[str, ...]
    format: str


def _refuse(name: str, why: str, hint: str = "Choose another picture.") -> ImageReadError:
    return ImageReadError(f"{name} {why}", hint)


def _read_bytes(path: Path) -> bytes:
    try:
        if stat.S_ISDIR(os.stat(path).st_mode):
            raise _refuse(path.name, "is a folder, not a picture.", "Choose an image file inside it.")
        with open_regular(path) as f:
            size = os.fstat(f.fileno()).st_size
            if size > MAX_FILE_BYTES:
                raise _refuse(path.name, f"is too big to be a picture ({size / 2**30:.1f} GiB).")
            return f.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise ImageReadError(
            f"Could not read {path}: {exc.strerror or exc}.", "Check that the file exists and can be read."
        ) from exc


def _orientation(im: Image.Image) -> int:
    try:
        value = im.getexif().get(EXIF_ORIENTATION)
    except Exception:  # Pillow's EXIF parser raises many types on damaged data; then nothing is turned
        return 1
    return value if isinstance(value, int) and value in ORIENTATIONS else 1


def _tiff_orientation(data: bytes) -> int:
    """The orientation a TIFF file states: Pillow turns a TIFF upright while decoding it and then drops
    the tag, so it is read from the file's header (no pixels decoded)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(io.BytesIO(data)) as im:
                return _orientation(im)
    except Exception:  # the decoder has already read this file; its header cannot fail differently
        return 1


def _bit_depth(data: bytes, im: Image.Image) -> int:
    """Bits per channel as stored, where Pillow reduces them on loading (16-bit RGB PNG and TIFF)."""
    if data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 24:
        return data[24]
    tags = getattr(im, "tag_v2", None)
    bits = tags.get(258) if tags is not None else None
    if isinstance(bits, tuple) and bits and isinstance(bits[0], int):
        return bits[0]
    return bits if isinstance(bits, int) else 8


def _to_8bit(im: Image.Image, bits: int, notes: list[str]) -> Image.Image:
    """Integer and float pixels spread over 0..255 by their full range, never clipped at 255."""
    if im.mode.startswith("I;16") or (im.mode == "I" and bits == 16):
        a = np.asarray(im, dtype=np.uint32)
        notes.append("Its 16-bit grey levels were reduced to 8 bits.")
        return Image.fromarray(((a * 255 + 32767) // 65535).astype(np.uint8), "L")
    if im.mode in ("I", "F"):
        a = np.asarray(im, dtype=np.float64)
        finite = a[np.isfinite(a)]
        low, high = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
        if im.mode == "F" and low >= 0 and high <= 1:
            low, high = 0.0, 1.0
            notes.append("Its floating-point values from 0 to 1 were scaled to 8 bits.")
        else:  # no natural scale: stretched as image viewers show such data
            notes.append(f"Its values, from {low:g} to {high:g}, were stretched over 8 bits.")
        span = high - low if high > low else 1.0
        a = np.nan_to_num(a, nan=low, posinf=high, neginf=low)
        return Image.fromarray(np.rint((a - low) * 255 / span).clip(0, 255).astype(np.uint8), "L")
    if im.mode == "1":
        return im.convert("L")
    if bits == 16:
        notes.append("Its 16-bit colours were reduced to 8 bits.")
    return im


def _flatten(im: Image.Image, notes: list[str]) -> Image.Image:
    """Transparency composited on white: sketches and line art are drawn on white, and a person sees
    a transparent picture on white (or a light checkerboard) in most viewers."""
    if im.mode == "P" or "transparency" in im.info:
        im = im.convert("RGBA" if im.mode in ("P", "PA", "RGB") else "LA")
    if im.mode in ("PA", "RGBa", "La"):
        im = im.convert("RGBA")
    if im.mode not in ("RGBA", "LA"):
        return im
    opaque = im.mode[0] if im.mode == "LA" else "RGB"
    if im.getchannel("A").getextrema()[0] == 255:
        return im.convert(opaque)
    white = Image.new(im.mode, im.size, (255,) * len(im.mode))
    notes.append("Its transparent parts were filled with white.")
    return Image.alpha_composite(white.convert("RGBA"), im.convert("RGBA")).convert(opaque)


def _profile_description(profile: object) -> str:
    try:
        return ImageCms.getProfileDescription(profile).strip() or "unnamed"  # type: ignore[arg-type]
    except Exception:
        return "unnamed"


def _to_srgb(im: Image.Image, icc: bytes | None, notes: list[str]) -> Image.Image:
    """RGB in sRGB, through Little CMS from the picture's own profile where it has one."""
    if im.mode == "LAB" and ImageCms is not None:
        lab = ImageCms.createProfile("LAB")
        out = ImageCms.profileToProfile(im, lab, ImageCms.createProfile("sRGB"), outputMode="RGB")
        if out is not None:  # None only when converting in place
            notes.append("Converted from L*a*b* colours to sRGB.")
            return out
    if icc and ImageCms is not None and im.mode in ("RGB", "L", "CMYK"):
        try:
            profile = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            name = _profile_description(profile)
            if im.mode == "RGB" and "sRGB" in name:
                return im
            srgb = ImageCms.createProfile("sRGB")
            out = ImageCms.profileToProfile(im, profile, srgb, outputMode="RGB")
        except (ImageCms.PyCMSError, OSError, ValueError, TypeError):
            notes.append("Its colour profile is damaged or does not fit its pixels, so it was ignored.")
        else:
            if out is not None:
                if im.mode == "CMYK":
                    notes.append(f"Converted from CMYK to RGB with its colour profile ({name}).")
                else:
                    notes.append(f"Its colours were converted from the {name} profile to sRGB.")
                return out
    if im.mode == "CMYK":
        notes.append(
            "Converted from CMYK to RGB without a colour profile, so colours may differ a little from "
            "what print software shows."
        )
    elif icc and ImageCms is None:
        notes.append("Its colour profile was not applied (this Pillow has no colour management).")
    return im.convert("RGB")


def choose_size(width: int, height: int, area: int = DEFAULT_AREA) -> tuple[int, int]:
    """The valid size nearest the picture's aspect and area, the area capped at ``area``: the size the
    app's aspect presets pick for the same aspect."""
    return size_for_aspect(width / height, min(width * height, area))


def _check_target(target: tuple[int, int]) -> None:
    for name, value in zip(("width", "height"), target, strict=True):
        if not (isinstance(value, int) and value % SIZE_STEP == 0 and MIN_SIZE <= value <= MAX_SIZE):
            choices = " or ".join(str(v) for v in nearest_valid_sizes(int(value)))
            raise InvalidParams(
                f"The target {name} {value} is not a size Würstchen makes: a multiple of {SIZE_STEP} from "
                f"{MIN_SIZE} to {MAX_SIZE}.",
                f"Use {choices}.",
            )


def _fit(im: Image.Image, size: tuple[int, int], notes: list[str]) -> Image.Image:
    """``im`` resized to cover ``size`` and centre-cropped to it, both in one Lanczos pass."""
    (w, h), (tw, th) = im.size, size
    if (w, h) == (tw, th):
        return im
    scale = max(tw / w, th / h)
    cw, ch = min(w, tw / scale), min(h, th / scale)  # the part of the original that is kept
    box = ((w - cw) / 2, (h - ch) / 2, (w + cw) / 2, (h + ch) / 2)
    gap = 3.0 if scale < 1 / 3 else None  # reduce by whole factors first: fast, and as good for big ones
    out = im.resize((tw, th), Image.Resampling.LANCZOS, box=box, reducing_gap=gap)
    if w * h < MIN_SIZE * MIN_SIZE:
        notes.append(
            f"Resized from {w}x{h} to {tw}x{th}: it is smaller than Würstchen's smallest size, so "
            "expect a soft result."
        )
    else:
        notes.append(f"Resized from {w}x{h} to {tw}x{th}, the nearest size Würstchen makes.")
    (first, second), cut = (("left", "right"), w - cw) if w - cw >= h - ch else (("top", "bottom"), h - ch)
    if round(cut / 2) >= 1:
        n = round(cut / 2)
        notes.append(f"Cropped {n} pixels of the original off the {first} and {n} off the {second} to fit.")
    return out


def read_source(source: Path | str | bytes, target: tuple[int, int] | None = None) -> SourceImage:
    """The picture in ``source`` (a path, or the bytes of a pasted or dropped file) ready for
    image-to-image: upright, 8-bit sRGB, transparency on white, at ``target`` or else the valid size
    nearest its aspect and area (at most about 1024x1024 pixels).

    Raises ``ImageReadError`` with one sentence for anything that is not a picture this app reads, and
    ``InvalidParams`` for a target that is not a valid size.
    """
    if target is not None:
        _check_target(target)
    if isinstance(source, bytes):
        name, data = PASTED, source
    else:
        path = Path(source)
        name, data = path.name, _read_bytes(path)
    if not data:
        raise _refuse(name, "is empty (0 bytes), so there is no picture in it.")
    notes: list[str] = []
    try:
        with open_pixels(Path(name), data=data) as im:
            fmt = im.format or "image"
            if getattr(im, "is_animated", False):
                im.seek(0)  # seeking back to the first frame needs it decoded again
                im.load()
                pages = fmt in ("TIFF", "MPO")
                what = f"holds several pages ({fmt})" if pages else f"is an animated {fmt}"
                notes.append(f"It {what}; its first {'page' if pages else 'frame'} is used.")
            orientation = _orientation(im)
            turned = _tiff_orientation(data) if fmt == "TIFF" and orientation == 1 else 1
            icc = im.info.get("icc_profile")
            pixels = _to_8bit(im, _bit_depth(data, im), notes)
            pixels = _to_srgb(_flatten(pixels, notes), icc if isinstance(icc, bytes) else None, notes)
    except ImageReadError as exc:
        if isinstance(exc.__cause__, UnidentifiedImageError):
            kind = _kind(data)
            if kind is None:
                raise _refuse(name, f"is not a picture this app can read ({FORMATS}).") from exc
            raise _refuse(
                name, f"is damaged or not a real image: its {kind} header is invalid (a zero size, say)."
            ) from exc
        raise
    if orientation != 1:
        pixels = pixels.transpose(ORIENTATIONS[orientation][0])
    stated = orientation if orientation != 1 else turned
    if stated != 1:
        notes.append(f"Turned upright as its EXIF orientation asks ({ORIENTATIONS[stated][1]}).")
    original = pixels.size
    size = target or choose_size(*original)
    pixels = _fit(pixels, size, notes)
    return SourceImage(
        image=pixels,
        sha256=hashlib.sha256(data).hexdigest(),
        original_size=original,
        size=size,
        notes=tuple(notes),
        format=fmt,
    )
