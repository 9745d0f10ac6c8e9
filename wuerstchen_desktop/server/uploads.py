"""Files a client sends (a composition, a picture, a record): base64 in the JSON body, written by the server
into a folder of its own that only it names, and read back by the app's own defensive reader before the
job is queued, so a hostile or truncated file is refused with a sentence and never reaches the runner.
Nothing a client sends is ever used as a path."""

from __future__ import annotations

import base64
import binascii
import json
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from wuerstchen_desktop.core.errors import InvalidParams, WuerstchenError

if TYPE_CHECKING:
    from wuerstchen_desktop.core.engine.pipeline import Pipeline
    from wuerstchen_desktop.core.imagefile.record import ImageRecord

# A composition file (its preview PNG with the record and the Stage C latent): about 47 KB at 1024x1024,
# 106 KB at most there (a float32 latent, the longest prompts, a preview that does not compress), 300 KB at
# most at 2048x2048. A picture to reproduce: a 2048x2048 PNG that does not compress is 12.6 MB.
MAX_COMPOSITION_BYTES = 512 * 1024
MAX_PICTURE_BYTES = 16 * 1024 * 1024
MAX_RECORD_JSON_CHARS = 4_000_000  # as a file's record may be (imagefile/record.py)


def base64_chars(size: int) -> int:
    """How many base64 characters carry ``size`` bytes."""
    return 4 * -(-size // 3)


def decoded(text: str, what: str, limit: int) -> bytes:
    """The bytes of base64 ``text``; a sentence naming ``what`` when it is not base64 or too large."""
    try:
        data = base64.b64decode(text.encode("ascii"), validate=True)
    except (UnicodeEncodeError, binascii.Error, ValueError) as exc:
        raise InvalidParams(
            f"The {what} is not base64 text.", "Send the file's bytes base64-encoded, not a path or a name."
        ) from exc
    if not data:
        raise InvalidParams(f"The {what} is empty.", "Send the whole file, base64-encoded.")
    if len(data) > limit:
        raise InvalidParams(f"The {what} is larger than the {limit // 1024} KiB this server accepts.")
    return data


class Uploads:
    """A private folder for one request's files, removed when the request has ended (``remove``)."""

    def __init__(self) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="wuerstchen-upload-"))  # 0700, named by the system

    def store(self, name: str, data: bytes) -> Path:
        path = self.folder / name
        path.write_bytes(data)
        return path

    def remove(self, *_: Any) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)

    def composition(self, pipe: Pipeline, name: str, text: str) -> tuple[Path, ImageRecord]:
        """A composition (or an image of ours, which carries its own) stored as ``name``, read back and
        its latent checked against the size its record gives, as the app checks it before decoding."""
        from wuerstchen_desktop.core.imagefile.read import read_record
        from wuerstchen_desktop.core.jobs.records import checked_latent

        path = self.store(name, decoded(text, "composition", MAX_COMPOSITION_BYTES))
        record = read_record(path)
        checked_latent(pipe, record)
        return path, record

    def picture(self, text: str) -> tuple[Path, ImageRecord]:
        """A picture made by this app, stored and read back: its record is what a reproduce needs."""
        from wuerstchen_desktop.core.imagefile.read import read_record

        path = self.store("picture.png", decoded(text, "picture", MAX_PICTURE_BYTES))
        return path, read_record(path)

    def record(self, data: dict[str, Any]) -> tuple[Path, ImageRecord]:
        """A record sent as JSON (as a file stores it, or as ``read`` prints it under ``wuerstchen``),
        checked by the file reader's own parser, then carried by a one-pixel PNG so the runner reproduces
        it exactly as it would the file."""
        from PIL import Image

        from wuerstchen_desktop.core.imagefile.record_json import record_from_json
        from wuerstchen_desktop.core.imagefile.write import encode_image

        hint = "Send the `wuerstchen` object that `wuerstchen-desktop read` prints, or the file itself."
        inner = data.get("wuerstchen", data)
        try:
            text = json.dumps(inner, ensure_ascii=False, allow_nan=False) if isinstance(inner, dict) else ""
        except (ValueError, RecursionError) as exc:
            raise InvalidParams("The parameters hold a value that is not a finite number.", hint) from exc
        if len(text) > MAX_RECORD_JSON_CHARS:
            raise InvalidParams("The parameters are longer than any file of ours carries.", hint)
        try:
            record = record_from_json(text)
        except WuerstchenError as exc:
            raise InvalidParams(exc.message, hint) from exc
        path = self.store("parameters.png", encode_image(Image.new("RGB", (1, 1)), record, "png"))
        return path, record
