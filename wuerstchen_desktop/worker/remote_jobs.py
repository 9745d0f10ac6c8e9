"""What a window job becomes on a server's ``/wuerstchen/v1`` routes, and what the server's answer
becomes here: its files, byte for byte (they carry our records), saved in the local output folder under
the window's own file names. No Qt: these run on a helper thread, never on the GUI thread.

The client token lives in its own file (``appdirs.client_token_file``), readable by its owner only, not in
the settings file, which platforms keep readable by others (a 0644 file in ~/.config) and people copy
between computers and into dotfile repositories.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from wuerstchen_desktop.core import appdirs
from wuerstchen_desktop.core.atomicfile import replace_atomic, write_bytes_atomic
from wuerstchen_desktop.core.errors import InvalidParams, RemoteError
from wuerstchen_desktop.core.jobs.job import COMPOSITIONS_FOLDER, Job, JobKind
from wuerstchen_desktop.core.library.naming import file_stem
from wuerstchen_desktop.core.params import GenerationParams

log = logging.getLogger(__name__)

PREFIX = "/wuerstchen/v1"
ROUTES = {
    JobKind.GENERATE: "generate",
    JobKind.COMPOSE: "compose",
    JobKind.DECODE: "decode",
    JobKind.BLEND: "blend",
    JobKind.REPRODUCE: "reproduce",
}
_TEXT_FIELDS = (
    "prompt",
    "negative_prompt",
    "width",
    "height",
    "seed",
    "images",
    "prior_steps",
    "prior_guidance",
    "decoder_steps",
    "decoder_guidance",
)
_DECODER_CHANGES = ("decoder_seed", "decoder_steps", "decoder_guidance")
LOCAL_ONLY_HINT = "Run it on this computer (Settings → Run on), or make it from text on the server."


def load_token(path: Path | None = None) -> str:
    """The token the window sends to its server; "" when none is kept."""
    path = path or appdirs.client_token_file()
    try:
        return path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return ""
    except (OSError, UnicodeDecodeError) as exc:  # the server then says it wants the token
        log.warning("the server token in %s cannot be read: %s", path, exc)
        return ""


def save_token(token: str, path: Path | None = None) -> None:
    """Keep ``token`` readable and writable by its owner only (none: the file goes)."""
    path = path or appdirs.client_token_file()
    token = token.strip()
    if not token:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        return
    old = os.umask(0o077)  # the temporary file is owner-only from its first byte
    try:
        replace_atomic((token + "\n").encode("utf-8"), path)
    finally:
        os.umask(old)
    if os.name == "posix":
        os.chmod(path, 0o600)


def request_for(job: Job) -> tuple[str, dict[str, Any]]:
    """The route and JSON body that ask the server for ``job``; ``RemoteError`` for what it cannot do yet.
    Reads the job's source files (a composition sent back to be decoded, say)."""
    route = ROUTES.get(job.kind)
    what = {JobKind.UPSCALE: "Upscale 2x"}.get(job.kind, "This job")
    if route is None or job.start is not None or (job.kind is JobKind.GENERATE and job.sources):
        if job.start is not None and job.kind is not JobKind.UPSCALE:
            what = "Starting from a picture"
        elif job.kind is JobKind.GENERATE:
            what = "Varying a history item"
        elif job.kind is JobKind.COMPOSE and job.sources:
            what = "Varying a composition"
        raise RemoteError(f"{what} does not run on a server yet.", LOCAL_ONLY_HINT)
    options: dict[str, Any] = {"wait": False, "send_files": True}
    if job.kind in (JobKind.GENERATE, JobKind.COMPOSE):
        if job.params is None or job.sources:
            raise RemoteError("Varying a composition does not run on a server yet.", LOCAL_ONLY_HINT)
        p = job.params
        if p.prompt_template is not None:  # each seed its own expansion: the server takes one prompt
            raise RemoteError("Wildcards do not run on a server yet.", LOCAL_ONLY_HINT)
        if p != GenerationParams(**_text_only(p)):  # as the server's TextJob makes them
            raise RemoteError("These settings do not run on a server yet.", LOCAL_ONLY_HINT)
        return route, {**options, **{f: getattr(p, f) for f in _TEXT_FIELDS}}
    changes = dict(job.changes)
    unknown = set(changes) - set(_DECODER_CHANGES)
    if unknown:
        raise RemoteError("These changes do not run on a server yet.", LOCAL_ONLY_HINT)
    body = {**options, **{k: v for k, v in changes.items() if v is not None}}
    files = [_base64(path) for path in job.sources]
    if job.kind is JobKind.DECODE:
        return route, {**body, "composition": files[0]}
    if job.kind is JobKind.BLEND:
        return route, {**body, "compositions": files, "weight": job.weight}
    return route, {**options, "image": files[0]}


def _text_only(p: GenerationParams) -> dict[str, Any]:
    return {f: getattr(p, f) for f in _TEXT_FIELDS}


def _base64(path: Path) -> str:
    try:
        return base64.b64encode(path.read_bytes()).decode("ascii")
    except OSError as exc:
        message = f"Cannot read {path.name}: {exc.strerror or exc}."
        raise RemoteError(message, "Check that it is still there.") from exc


@dataclass(frozen=True)
class Fetched:
    """A finished job's answer once its files are saved here."""

    paths: tuple[Path, ...]
    warnings: tuple[str, ...]


def save_answer(raw: bytes, job: Job, when: float | None = None) -> Fetched:
    """Save the files of a ``JobAnswer`` (``send_files``) under ``job.out_dir`` as the window names them:
    images by ``job.name_pattern``, compositions in their folder, as the local runner saves them."""
    try:
        answer = json.loads(raw)
        made = answer["files"]
        warnings = tuple(str(w) for w in answer.get("warnings", ()))
    except (ValueError, KeyError, TypeError) as exc:
        raise RemoteError("The server's answer is not one this version understands.", _UPDATE) from exc
    when = time.time() if when is None else when
    paths = []
    for each in made:
        try:
            data = base64.b64decode(each["file"], validate=True)
            params = GenerationParams.from_dict(each["parameters"])
            composition = each["kind"] == "composition"
        except (binascii.Error, ValueError, KeyError, TypeError, InvalidParams) as exc:
            raise RemoteError("The server sent a file this version cannot read.", _UPDATE) from exc
        pattern = f"{COMPOSITIONS_FOLDER}/{job.name_pattern}" if composition else job.name_pattern
        stem = file_stem(pattern, params, when)
        paths.append(write_bytes_atomic(data, job.out_dir, stem, ".png"))
    return Fetched(tuple(paths), warnings)


_UPDATE = "Use the same version of Würstchen Desktop on both computers."


def detail_of(raw: bytes) -> str:
    """The one sentence of a server's error answer (``{"detail": …}``), or "" when there is none."""
    try:
        detail = json.loads(raw).get("detail")
    except (ValueError, AttributeError):
        return ""
    return detail if isinstance(detail, str) else ""
