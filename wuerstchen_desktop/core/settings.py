"""The user's preferences as plain data, with validation: a bad stored value falls back to its default
and is reported, so a damaged settings file never stops the app from starting."""

from __future__ import annotations

import dataclasses
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from wuerstchen_desktop.core import appdirs
from wuerstchen_desktop.core.choices import ENGINE_CHOICES
from wuerstchen_desktop.core.errors import InvalidParams
from wuerstchen_desktop.core.library.naming import DEFAULT_PATTERN, check_pattern
from wuerstchen_desktop.core.params import DEFAULT_DECODER_REPO, DEFAULT_PRIOR_REPO

log = logging.getLogger(__name__)

CHOICES: dict[str, tuple[str, ...]] = {
    **ENGINE_CHOICES,
    "image_format": ("png", "jpeg", "webp"),
    "theme": ("system", "dark", "light"),
    "run_on": ("local", "server"),  # this computer's engine, or a `serve` elsewhere (worker/remote.py)
}
_SERVER_URL = re.compile(r"https?://(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(:[0-9]{1,5})?/?")


@dataclass(frozen=True)
class Settings:
    device: str = "auto"
    dtype: str = "auto"
    memory: str = "auto"
    compile: bool = False  # torch.compile the stages: slower first job, faster later ones where supported
    output_dir: Path = dataclasses.field(default_factory=appdirs.default_output_dir)
    image_format: str = "png"
    prior: str = DEFAULT_PRIOR_REPO
    decoder: str = DEFAULT_DECODER_REPO
    offline: bool = False
    theme: str = "system"
    name_pattern: str = DEFAULT_PATTERN
    models_dir: str = ""  # "" means the standard Hugging Face cache; see ``models_folder``
    run_on: str = "local"
    server_url: str = ""  # http(s)://host:port of the server; its token is kept apart (see README)

    def to_mapping(self) -> dict[str, Any]:
        return {k: str(v) if isinstance(v, Path) else v for k, v in dataclasses.asdict(self).items()}

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> tuple[Settings, list[str]]:
        """Read stored values; each bad one is replaced by its default and named in the returned warnings."""
        defaults = cls()
        values: dict[str, Any] = {}
        warnings: list[str] = []
        for field in dataclasses.fields(cls):
            if field.name not in data:
                continue
            raw = data[field.name]
            default = getattr(defaults, field.name)
            value = _coerce(field.name, raw, default)
            if value is None:
                warnings.append(f"setting {field.name}={raw!r} is not valid; using {default!r}")
                log.warning("setting %s=%r is not valid; using the default %r", field.name, raw, default)
            else:
                values[field.name] = value
        return cls(**values), warnings

    @property
    def models_folder(self) -> Path | None:
        """The Hub cache to download into and load from (``cache_dir``); None: huggingface_hub's own."""
        return appdirs.models_dir(self.models_dir)


def _coerce(name: str, raw: Any, default: Any) -> Any:
    """The stored value in the field's type, or None when it cannot be one."""
    if name in CHOICES:
        return raw if isinstance(raw, str) and raw in CHOICES[name] else None
    if isinstance(default, bool):
        if isinstance(raw, bool):
            return raw
        if isinstance(raw, str) and raw.lower() in ("true", "false"):  # QSettings stores text in INI files
            return raw.lower() == "true"
        return None
    if isinstance(default, Path):
        return Path(raw).expanduser() if isinstance(raw, str) and raw.strip() else None
    if name == "models_dir":
        return raw.strip() if isinstance(raw, str) else None
    if name == "server_url":
        return server_url(raw) if isinstance(raw, str) else None
    if name == "name_pattern":
        try:
            check_pattern(raw)
        except (InvalidParams, TypeError, AttributeError):
            return None
        return raw
    return raw if isinstance(raw, str) and raw.strip() else None


def server_url(text: str) -> str | None:
    """``text`` as a server's address (``http(s)://host[:port]``, no path), "" for none; None if it is
    not one."""
    text = text.strip()
    if not text:
        return ""
    if _SERVER_URL.fullmatch(text) is None:
        return None
    port = text.rstrip("/").rsplit(":", 1)[-1]
    if port.isdigit() and not 0 < int(port) < 65536:
        return None
    return text.rstrip("/")
