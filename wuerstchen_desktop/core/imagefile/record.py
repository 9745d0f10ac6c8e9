"""What an image says about how it was made: our JSON record, A1111 text, EXIF UserComment.

Two texts travel in every image. The A1111-style ``parameters`` text is for other tools (Civitai, SD Prompt
Reader, A1111's PNG Info); it is lossy. The private ``wuerstchen`` JSON record is exact: the whole
``GenerationParams``, the prior schedule, the models, the app version and the Stage C latent, so a job is
reproduced (or decoded again without Stage C) from the file alone. Nothing here imports torch or Pillow.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from dataclasses import dataclass, field
from typing import Any

from wuerstchen_desktop import __version__
from wuerstchen_desktop.core import appdirs
from wuerstchen_desktop.core.errors import (
    ImageReadError,
    InvalidParams,
    NoParametersFound,
    ParametersTooLong,
    WuerstchenError,
)
from wuerstchen_desktop.core.imagefile.a1111 import format_text, read_text, to_float, to_int, to_size
from wuerstchen_desktop.core.latent_storage import storage_dtype
from wuerstchen_desktop.core.params import DEFAULT_DECODER_REPO, DEFAULT_PRIOR_REPO, GenerationParams

SCHEMA = 2  # 1: images; 2 adds compositions and blends (a plain image is still written as 1)
KINDS = ("image", "composition")
APP_NAME = appdirs.PROGRAM
SAMPLER_NAME = "Würstchen DDPM"
OFFICIAL_PRIOR_CALLS = 29
UPSCALER = "Lanczos"  # how Upscale 2x enlarges the picture before Stage B redraws its detail
LATENT_KEY = "stage_c"
MAX_RECORD_CHARS = 4_000_000
MAX_LATENT_BYTES = 2_000_000
# A1111-style text longer than this is not parsed (the README says so): far beyond any real prompt, and
# an EXIF UserComment holds at most about 32K characters anyway.
MAX_PARAMETERS_CHARS = 64 * 1024


@dataclass(frozen=True)
class Blend:
    """The second composition of a blended image: its Stage C latent is
    ``lerp(latent of params, latent of other, weight)`` over the float16 latents the files store."""

    other: GenerationParams
    weight: float

    def __post_init__(self) -> None:
        w = self.weight
        if isinstance(w, bool) or not isinstance(w, (int, float)) or not math.isfinite(w) or not 0 <= w <= 1:
            raise InvalidParams(f"The blend weight must be a number from 0 to 1, not {w!r}.")
        if self.other.images != 1:
            raise InvalidParams("A blend mixes one composition with one other composition.")


@dataclass(frozen=True)
class ImageRecord:
    """The exact story of one image, as stored in its ``wuerstchen`` JSON chunk.

    ``latent`` is the image's Stage C latent ``(1, 16, h, w)`` as float16 safetensors bytes (see
    ``encode_latent``); ``prior_schedule`` the exact timesteps Stage C ran; ``model_hash`` the first 10 hex
    digits of the prior weights' sha256 when known. ``kind`` is "image", or "composition" for a Stage C
    result saved with its preview and not decoded yet. ``blend`` is set when the latent mixes two
    compositions; ``params`` then describe the first one and the decoding.
    """

    params: GenerationParams
    prior_model: str = DEFAULT_PRIOR_REPO
    decoder_model: str = DEFAULT_DECODER_REPO
    prior_revision: str | None = None
    decoder_revision: str | None = None
    model_hash: str | None = None
    prior_schedule: tuple[float, ...] = ()
    created: str = ""
    app_version: str = __version__
    latent: bytes | None = field(default=None, repr=False)
    kind: str = "image"
    blend: Blend | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise InvalidParams(f"Unknown record kind {self.kind!r}.")
        if self.blend is not None:
            p, o = self.params, self.blend.other
            if (p.width, p.height) != (o.width, o.height):
                raise InvalidParams("Only compositions of the same size can be blended.")


@dataclass(frozen=True)
class ImageParameters:
    """What a file told us. ``record`` is set for our own files, which give back everything exactly;
    for other tools' files only the fields they carried are set."""

    source: str  # "wuerstchen" or "a1111"
    prompt: str
    negative_prompt: str = ""
    seed: int | None = None
    steps: int | None = None
    guidance: float | None = None
    width: int | None = None
    height: int | None = None
    record: ImageRecord | None = None

    @classmethod
    def from_record(cls, record: ImageRecord) -> ImageParameters:
        p = record.params
        steps = OFFICIAL_PRIOR_CALLS if p.prior_steps is None else p.prior_steps
        neg, guidance = p.negative_prompt, p.prior_guidance
        return cls("wuerstchen", p.prompt, neg, p.seed, steps, guidance, p.width, p.height, record)

    def to_json_dict(self) -> dict[str, Any]:
        """A plain, JSON-ready view (the latent is summarised, not dumped)."""
        out: dict[str, Any] = {
            "source": self.source,
            "prompt": self.prompt,
            "negative_prompt": self.negative_prompt,
            "seed": self.seed,
            "steps": self.steps,
            "guidance": self.guidance,
            "width": self.width,
            "height": self.height,
        }
        if self.record is not None:
            data = record_to_dict(self.record)
            data.pop(LATENT_KEY, None)
            data["has_stage_c_latent"] = self.record.latent is not None
            out["wuerstchen"] = data
        return out


# -- the Stage C latent -------------------------------------------------------------------------------
def encode_latent(latent: Any) -> bytes:
    """One image's Stage C latent (array-like ``(16, h, w)`` or ``(1, 16, h, w)``) as float16 safetensors,
    or float32 when a value lies beyond float16's range (it would be stored as inf)."""
    import numpy as np
    from safetensors.numpy import save

    arr = np.asarray(latent, dtype=np.float32)
    arr = arr.astype(storage_dtype(arr))
    if arr.ndim == 3:
        arr = arr[None]
    if arr.ndim != 4 or arr.shape[0] != 1:
        raise ValueError(f"expected one latent (1, C, h, w), got shape {arr.shape}")
    return save({LATENT_KEY: np.ascontiguousarray(arr)})


def latent_dtype(data: bytes) -> str:
    """``float16`` or ``float32``: how a stored latent's safetensors header says it is stored."""
    try:
        size = int.from_bytes(data[:8], "little")
        dtype = json.loads(data[8 : 8 + size])[LATENT_KEY]["dtype"]
    except (ValueError, KeyError, TypeError, RecursionError):
        return "float16"
    return "float32" if dtype == "F32" else "float16"


def decode_latent(data: bytes) -> Any:
    """The ``(1, 16, h, w)`` float16 (or float32) numpy array stored by ``encode_latent``."""
    from safetensors.numpy import load

    try:
        arr = load(data)[LATENT_KEY]
    except Exception as exc:  # safetensors raises its own error types for malformed bytes
        raise ImageReadError(
            "The stored Stage C latent is damaged.", "Generate the image again from its parameters."
        ) from exc
    if arr.ndim != 4 or arr.shape[0] != 1:
        raise ImageReadError(f"The stored Stage C latent has the wrong shape {tuple(arr.shape)}.")
    return arr


# -- the JSON record ----------------------------------------------------------------------------------
def record_to_dict(record: ImageRecord) -> dict[str, Any]:
    out: dict[str, Any] = {
        "schema": 1 if record.kind == "image" and record.blend is None else SCHEMA,
        "app": APP_NAME,
        "kind": record.kind,
        "app_version": record.app_version,
        "created": record.created,
        "params": record.params.to_dict(),
        "prior_schedule": list(record.prior_schedule),
        "models": {
            "prior": {"id": record.prior_model, "revision": record.prior_revision, "hash": record.model_hash},
            "decoder": {"id": record.decoder_model, "revision": record.decoder_revision},
        },
    }
    if record.blend is not None:
        out["blend"] = {"params": record.blend.other.to_dict(), "weight": float(record.blend.weight)}
    if record.latent is not None:
        out[LATENT_KEY] = {
            "format": f"safetensors-{latent_dtype(record.latent)}",
            "base64": base64.b64encode(record.latent).decode("ascii"),
        }
    return out


def record_to_json(record: ImageRecord) -> str:
    # ASCII escapes keep every prompt exact, lone surrogates and NULs included, in any container.
    return json.dumps(record_to_dict(record), ensure_ascii=True, separators=(",", ":"), allow_nan=False)


def _damaged(detail: str) -> ImageReadError:
    return ImageReadError(
        f"The Würstchen parameters stored in this image are damaged ({detail}).",
        "The picture itself may be fine, but its parameters cannot be used; pick another image.",
    )


def _get(data: dict[str, Any], key: str, kind: type | tuple[type, ...], optional: bool = False) -> Any:
    value = data.get(key)
    if value is None and optional:
        return None
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        raise _damaged(f"{key!r} should be {getattr(kind, '__name__', 'of another type')}")
    return value


def record_from_json(text: str) -> ImageRecord:
    """Parse and check a ``wuerstchen`` chunk; any surprise is an ``ImageReadError``, never a crash."""
    if len(text) > MAX_RECORD_CHARS:
        raise _damaged("it is far too large")
    try:
        data = json.loads(text, parse_constant=_refuse_constant, parse_float=_finite, parse_int=_bounded)
    except _OutOfRange as exc:
        raise _damaged(str(exc)) from exc
    except (ValueError, RecursionError) as exc:
        raise _damaged("not valid JSON") from exc
    if not isinstance(data, dict):
        raise _damaged("not a JSON object")
    schema = _get(data, "schema", int)
    if schema > SCHEMA:
        raise ImageReadError(
            "This image was made by a newer Würstchen Desktop.", "Update the app to read its parameters."
        )
    models = _get(data, "models", dict)
    prior = _get(models, "prior", dict)
    decoder = _get(models, "decoder", dict)
    schedule = _get(data, "prior_schedule", list)
    if not all(isinstance(t, (int, float)) and not isinstance(t, bool) for t in schedule):
        raise _damaged("'prior_schedule' should hold numbers")
    try:
        params = GenerationParams.from_dict(_get(data, "params", dict))
    except WuerstchenError as exc:
        raise _damaged(exc.message.rstrip(".")) from exc
    kind = _get(data, "kind", str, optional=True) or "image"
    if kind not in KINDS:
        raise _damaged(f"unknown kind {kind[:40]!r}")
    blend = None
    if data.get("blend") is not None:
        raw = _get(data, "blend", dict)
        try:
            other = GenerationParams.from_dict(_get(raw, "params", dict))
            blend = Blend(other, _get(raw, "weight", (int, float)))
        except WuerstchenError as exc:
            raise _damaged(f"blend: {exc.message.rstrip('.')}") from exc
    latent = None
    if data.get(LATENT_KEY) is not None:
        encoded = _get(_get(data, LATENT_KEY, dict), "base64", str)
        if len(encoded) > MAX_LATENT_BYTES * 4 // 3 + 4:
            raise _damaged("the latent is far too large")
        try:
            latent = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise _damaged("the latent is not base64") from exc
    try:
        return _record(data, params, prior, decoder, schedule, latent, kind, blend)
    except InvalidParams as exc:
        raise _damaged(exc.message.rstrip(".")) from exc


def _record(
    data: dict[str, Any],
    params: GenerationParams,
    prior: dict[str, Any],
    decoder: dict[str, Any],
    schedule: list[Any],
    latent: bytes | None,
    kind: str,
    blend: Blend | None,
) -> ImageRecord:
    return ImageRecord(
        params=params,
        prior_model=_get(prior, "id", str),
        decoder_model=_get(decoder, "id", str),
        prior_revision=_get(prior, "revision", str, optional=True),
        decoder_revision=_get(decoder, "revision", str, optional=True),
        model_hash=_get(prior, "hash", str, optional=True),
        prior_schedule=tuple(float(t) for t in schedule),
        created=_get(data, "created", str),
        app_version=_get(data, "app_version", str),
        latent=latent,
        kind=kind,
        blend=blend,
    )


class _OutOfRange(ValueError):
    """A number out of its field's range.

    Not a WuerstchenError: the record reader turns it into an ImageReadError naming the file."""


# Every number leaves the reader finite and in range, so whatever prints a record prints valid JSON and
# nothing converting it overflows.
def _refuse_constant(name: str) -> None:
    raise _OutOfRange(f"{name} is not a number")


def _finite(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise _OutOfRange(f"the number {text[:40]} is out of range")
    return number


def _bounded(text: str) -> int:
    if len(text.lstrip("-")) > 20:  # no value we store has more digits than a 64-bit seed
        raise _OutOfRange(f"the number {text[:40]}... is out of range")
    return int(text)


# -- the A1111 text -----------------------------------------------------------------------------------
def _settings(record: ImageRecord) -> list[tuple[str, str]]:
    p = record.params
    steps = OFFICIAL_PRIOR_CALLS if p.prior_steps is None else p.prior_steps
    model = record.prior_model.replace("\\", "/").rstrip("/").rsplit("/", 1)[-1] or record.prior_model
    items = [
        ("Steps", str(steps)),
        ("Sampler", SAMPLER_NAME),
        ("CFG scale", repr(float(p.prior_guidance))),
        ("Seed", str(p.seed)),
        # As A1111 writes a hires result: the first pass's size, and the factor under "Hires upscale".
        ("Size", f"{p.width // p.upscale}x{p.height // p.upscale}"),
    ]
    if record.model_hash:
        items.append(("Model hash", record.model_hash[:10]))
    items += [
        ("Model", model),
        ("Decoder steps", str(p.decoder_steps)),
        ("Decoder CFG scale", repr(float(p.decoder_guidance))),
    ]
    if p.decoder_seed is not None:
        items.append(("Decoder seed", str(p.decoder_seed)))
    if p.source is not None:  # as A1111 writes image-to-image and hires, then the picture it started from
        items.append(("Denoising strength", repr(float(p.strength))))
        if p.upscale > 1:
            items += [("Hires upscale", str(p.upscale)), ("Hires upscaler", UPSCALER)]
        items.append(("Source sha256", p.source))
        if p.source_width is not None:
            items.append(("Source size", f"{p.source_width}x{p.source_height}"))
    if record.blend is not None:
        other = record.blend.other
        items += [("Blend seed", str(other.seed)), ("Blend weight", repr(float(record.blend.weight)))]
        if other.prompt != p.prompt:
            items.append(("Blend prompt", other.prompt))
    if record.kind == "composition":
        items.append(("Composition", "not decoded"))
    return [*items, ("Version", f"{APP_NAME} {record.app_version}")]


def format_parameters(record: ImageRecord, max_utf16: int | None = None) -> str:
    """The A1111-style text: prompt lines, ``Negative prompt:`` (always), then one ``Steps:`` line.

    ``max_utf16`` bounds its length in UTF-16 code units (as EXIF stores it): see ``a1111.format_text``.
    """
    p = record.params
    return format_text(p.prompt, p.negative_prompt, _settings(record), ("Blend prompt",), max_utf16)


def parse_parameters(text: str) -> ImageParameters:
    """Read A1111-style text (ours or another tool's) the way A1111's PNG Info does.

    A text over ``MAX_PARAMETERS_CHARS`` is refused with ``ParametersTooLong`` (see the README).
    """
    if len(text) > MAX_PARAMETERS_CHARS:
        raise ParametersTooLong(
            f"The parameters text is too long to read ({len(text):,} characters; the limit is "
            f"{MAX_PARAMETERS_CHARS:,}).",
            "Its image is fine; only its A1111-style parameters are not read.",
        )
    prompt, negative, found = read_text(text)
    if not found and negative is None:
        raise NoParametersFound("The text holds no generation parameters.")
    width, height = to_size(found.get("Size"))
    return ImageParameters(
        "a1111",
        prompt,
        negative or "",
        seed=to_int(found.get("Seed")),
        steps=to_int(found.get("Steps")),
        guidance=to_float(found.get("CFG scale")),
        width=width,
        height=height,
    )
