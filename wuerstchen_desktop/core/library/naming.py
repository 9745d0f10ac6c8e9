"""File names for images: a pattern of fields, made safe for every file system."""

from __future__ import annotations

import re
import string
import time
from typing import Any

from wuerstchen_desktop.core.errors import InvalidParams
from wuerstchen_desktop.core.params import GenerationParams

# Fields of a file name pattern; "/" makes folders. The command line keeps its historical flat names.
DEFAULT_PATTERN = "{date}/{time}-{seed}-{slug}"
FLAT_PATTERN = "{stamp}-{seed}-{slug}"
PATTERN_FIELDS = ("date", "time", "stamp", "seed", "slug", "width", "height")


def slug(text: str, limit: int = 40) -> str:
    """A short, file-name-safe summary of a prompt."""
    words = re.sub(r"[^\w\s-]", "", text, flags=re.UNICODE).split()
    out = "-".join(words)[:limit].strip("-_").lower()
    return out or "untitled"


def check_pattern(pattern: str) -> None:
    """Refuse a file name pattern with unknown fields or one that could leave the output folder."""
    try:
        fields = [name for _, name, _, _ in string.Formatter().parse(pattern) if name is not None]
    except ValueError as exc:
        raise InvalidParams(f"The file name pattern {pattern!r} is malformed: {exc}.") from exc
    known = ", ".join("{" + f + "}" for f in PATTERN_FIELDS)
    for name in fields:
        if name not in PATTERN_FIELDS:
            raise InvalidParams(f"The file name pattern has an unknown field {{{name}}}.", f"Use {known}.")
    parts = pattern.replace("\\", "/").split("/")
    if pattern.startswith(("/", "\\")) or any(p in ("", ".", "..") for p in parts) or ":" in pattern:
        raise InvalidParams(
            f"The file name pattern {pattern!r} must name a file inside the output folder.",
            "Use plain names separated by /, for example {date}/{time}-{seed}-{slug}.",
        )


def file_stem(pattern: str, params: GenerationParams, when: float | None = None) -> str:
    """The relative path, without extension, that ``pattern`` gives an image (``/`` separates folders)."""
    check_pattern(pattern)
    t = time.localtime(when)
    values: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%d", t),
        "time": time.strftime("%H%M%S", t),
        "stamp": time.strftime("%Y%m%d-%H%M%S", t),
        "seed": params.seed,
        "slug": slug(params.prompt),
        "width": params.width,
        "height": params.height,
    }
    parts = pattern.format(**values).replace("\\", "/").split("/")
    clean = [re.sub(r'[<>:"|?*\x00-\x1f]', "_", p).strip(" .") or "_" for p in parts]
    return "/".join(p if not p.startswith(".") else "_" + p for p in clean)
