"""Reading a ``wuerstchen`` JSON record back: every field checked, every number finite and in range, any
surprise an ``ImageReadError`` naming what is damaged, never a crash."""

from __future__ import annotations

import base64
import binascii
import json
import math
from typing import Any

from wuerstchen_desktop.core.errors import ImageReadError, InvalidParams, WuerstchenError
from wuerstchen_desktop.core.imagefile.record import (
    KINDS,
    LATENT_KEY,
    MAX_LATENT_BYTES,
    SCHEMA,
    Blend,
    ImageRecord,
)
from wuerstchen_desktop.core.params import GenerationParams

MAX_RECORD_CHARS = 4_000_000


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
