"""What an image says about how it was made: the ``wuerstchen`` JSON record.

Two texts travel in every image: the lossy A1111-style ``parameters`` text for other tools
(``parameters_text``), and this private record, which is exact: the whole
``GenerationParams``, the prior schedule, the models, the app version and the Stage C latent, so a job is
reproduced (or decoded again without Stage C) from the file alone. Nothing here imports torch or Pillow.
"""

from __future__ import annotations

import base64
import json
import math
from dataclasses import dataclass, field
from typing import Any

from wuerstchen_desktop import __version__
from wuerstchen_desktop.core import appdirs
from wuerstchen_desktop.core.errors import (
    ImageReadError,
    InvalidParams,
)
from wuerstchen_desktop.core.latent_storage import storage_dtype
from wuerstchen_desktop.core.params import DEFAULT_DECODER_REPO, DEFAULT_PRIOR_REPO, GenerationParams

SCHEMA = 2  # 1: images; 2 adds compositions and blends (a plain image is still written as 1)
KINDS = ("image", "composition")
APP_NAME = appdirs.PROGRAM
OFFICIAL_PRIOR_CALLS = 29
LATENT_KEY = "stage_c"
MAX_LATENT_BYTES = 2_000_000


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
