"""Reading parameters from image files, ours and other tools', without decoding pixels.

The reader walks the container's chunks itself, so a broken or hostile file (truncated, a text
decompression bomb, gigantic or malformed chunks) costs little and ends in a clear error.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import os
import stat
import struct
import warnings
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from PIL import Image

from wuerstchen_desktop.core.errors import ImageReadError, NoParametersFound, ParametersTooLong
from wuerstchen_desktop.core.imagefile.a1111 import decode_user_comment
from wuerstchen_desktop.core.imagefile.parameters_text import parse_parameters
from wuerstchen_desktop.core.imagefile.record import ImageParameters, ImageRecord
from wuerstchen_desktop.core.imagefile.record_json import record_from_json

PNG_PARAMETERS_KEY = "parameters"
PNG_RECORD_KEY = "wuerstchen"
JPEG_RECORD_MAGIC = b"WUERSTCHEN\0"
JPEG_APP11 = 0xEB
EXIF_IFD, USER_COMMENT, MAKER_NOTE = 0x8769, 0x9286, 0x927C

MAX_TEXT_BYTES = 8_000_000  # one of our text chunks, compressed or not
MAX_CHUNKS = 200_000
MAX_SEGMENTS = 2_000
MAX_PIXELS = 100_000_000  # for decoding pixels (thumbnails, export): ten times a 2048x2048 image and more


@dataclasses.dataclass
class _Found:
    parameters: str | None = None
    record: str | None = None


def _broken(path: Path, why: str) -> ImageReadError:
    return ImageReadError(f"{path.name} is damaged or not a real image: {why}.", "Choose another file.")


def _read_exact(f: BinaryIO, n: int, path: Path) -> bytes:
    data = f.read(n)
    if len(data) != n:
        raise _broken(path, "it ends too early (truncated)")
    return data


def _inflate(data: bytes, path: Path) -> bytes:
    inflater = zlib.decompressobj()
    try:
        out = inflater.decompress(data, MAX_TEXT_BYTES)
    except zlib.error as exc:
        raise _broken(path, "a compressed text chunk is corrupt") from exc
    if inflater.unconsumed_tail:
        raise _broken(path, f"a text chunk expands beyond {MAX_TEXT_BYTES // 1_000_000} MB")
    return out


def _png_text(ctype: bytes, data: bytes, path: Path) -> tuple[str, str]:
    keyword, sep, rest = data.partition(b"\0")
    if not sep:
        raise _broken(path, "a text chunk is malformed")
    key = keyword.decode("latin-1")
    if ctype == b"tEXt":
        return key, rest.decode("latin-1")
    if ctype == b"zTXt":
        return key, _inflate(rest[1:], path).decode("latin-1")
    if len(rest) < 2 or rest.count(b"\0", 2) < 2:
        raise _broken(path, "an iTXt chunk is malformed")
    compressed, body = rest[0], rest[2:].split(b"\0", 2)[2]
    raw = _inflate(body, path) if compressed else body
    try:
        return key, raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _broken(path, "a text chunk is not UTF-8") from exc


def _walk_png(f: BinaryIO, size: int, path: Path) -> _Found:
    found = _Found()
    f.seek(8)
    for _ in range(MAX_CHUNKS):
        length, ctype = struct.unpack(">I4s", _read_exact(f, 8, path))
        end = f.tell() + length + 4
        if length > 2**31 - 1 or end > size:
            raise _broken(path, "a chunk runs past the end of the file (truncated)")
        if ctype == b"IEND":
            return found
        if ctype in (b"tEXt", b"zTXt", b"iTXt"):
            keyword = f.read(min(length, 80)).partition(b"\0")[0]
            if keyword in (b"parameters", b"wuerstchen"):
                if length > MAX_TEXT_BYTES:
                    raise _broken(path, f"its {keyword.decode()} text is gigantic ({length} bytes)")
                f.seek(-min(length, 80), os.SEEK_CUR)
                key, text = _png_text(ctype, _read_exact(f, length, path), path)
                if key == PNG_RECORD_KEY and found.record is None:
                    found.record = text
                elif key == PNG_PARAMETERS_KEY and found.parameters is None:
                    found.parameters = text
        f.seek(end)
    raise _broken(path, "it has too many chunks")


def _walk_jpeg(f: BinaryIO, size: int, path: Path) -> tuple[bytes | None, _Found]:
    exif, pieces, total = None, {}, None
    f.seek(2)
    for _ in range(MAX_SEGMENTS):
        if _read_exact(f, 1, path) != b"\xff":
            raise _broken(path, "a JPEG marker is missing")
        marker = _read_exact(f, 1, path)[0]
        while marker == 0xFF:  # fill bytes
            marker = _read_exact(f, 1, path)[0]
        if marker in (0xD9, 0xDA):  # metadata ends where the compressed image starts
            break
        if 0xD0 <= marker <= 0xD8 or marker == 0x01:
            continue
        length = struct.unpack(">H", _read_exact(f, 2, path))[0]
        if length < 2:
            raise _broken(path, "a JPEG segment has an impossible length")
        if marker == 0xE1 and exif is None:
            payload = _read_exact(f, length - 2, path)
            exif = payload[6:] if payload.startswith(b"Exif\0\0") else None
        elif marker == JPEG_APP11:
            payload = _read_exact(f, length - 2, path)
            if payload.startswith(JPEG_RECORD_MAGIC) and len(payload) >= len(JPEG_RECORD_MAGIC) + 4:
                index, count = struct.unpack(">HH", payload[len(JPEG_RECORD_MAGIC) :][:4])
                if total not in (None, count) or index >= count or index in pieces:
                    raise _broken(path, "its Würstchen segments disagree")
                total = count
                pieces[index] = payload[len(JPEG_RECORD_MAGIC) + 4 :]
        else:
            _read_exact(f, length - 2, path)
    else:
        raise _broken(path, "it has too many segments")
    # The image data runs to an end-of-image marker; without one the file was cut short.
    f.seek(max(f.tell(), size - 65536))
    if b"\xff\xd9" not in f.read():
        raise _broken(path, "it ends too early (truncated)")
    found = _Found()
    if total is not None:
        if len(pieces) != total:
            raise _broken(path, "some of its Würstchen segments are missing")
        found.record = _ascii(_inflate(b"".join(pieces[i] for i in range(total)), path), path)
    return exif, found


def _walk_webp(f: BinaryIO, size: int, path: Path) -> bytes | None:
    riff_end = 8 + struct.unpack("<I", _read_exact(f, 8, path)[4:])[0]
    if riff_end > size:
        raise _broken(path, "it ends too early (truncated)")
    f.seek(12)
    for _ in range(MAX_CHUNKS):
        if f.tell() + 8 > riff_end:
            return None
        fourcc, length = struct.unpack("<4sI", _read_exact(f, 8, path))
        if f.tell() + length > size:
            raise _broken(path, "a chunk runs past the end of the file (truncated)")
        if fourcc == b"EXIF":
            if length > MAX_TEXT_BYTES:
                raise _broken(path, f"its EXIF data is gigantic ({length} bytes)")
            data = _read_exact(f, length, path)
            return data[6:] if data.startswith(b"Exif\0\0") else data
        f.seek(length + (length & 1), os.SEEK_CUR)
    raise _broken(path, "it has too many chunks")


def _ascii(data: bytes, path: Path) -> str:
    try:
        return data.decode("ascii")
    except UnicodeDecodeError as exc:
        raise _broken(path, "its Würstchen record is not text") from exc


def _from_exif(data: bytes, found: _Found, path: Path) -> None:
    exif = Image.Exif()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Pillow warns about damage it tolerates; we judge the result
            exif.load(b"Exif\0\0" + data)
            ifd = exif.get_ifd(EXIF_IFD)
            comment, note = ifd.get(USER_COMMENT, exif.get(USER_COMMENT)), ifd.get(MAKER_NOTE)
    except Exception as exc:  # Pillow's TIFF parser raises many types on hostile input
        raise _broken(path, "its EXIF data is corrupt") from exc
    if isinstance(comment, (bytes, str)) and comment:
        found.parameters = decode_user_comment(comment)
    if found.record is None and isinstance(note, bytes) and note.startswith(b"{"):
        found.record = _ascii(note, path)


def open_regular(path: Path) -> BinaryIO:
    """``path`` opened for reading, refused unless it is a regular file: a FIFO or a device would block
    or never end. Opening does not wait for a FIFO's writer, and the check is on what was opened."""
    nonblock = getattr(os, "O_NONBLOCK", 0)  # POSIX; Windows has no FIFOs in the file system
    fd = os.open(path, os.O_RDONLY | nonblock | getattr(os, "O_BINARY", 0))
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise ImageReadError(
                f"{path.name} is not a regular file (a pipe or a device), so it is not read.",
                "Choose an image file.",
            )
        if nonblock:
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def _read_found(path: Path) -> _Found:
    try:
        with open_regular(path) as f:
            size = os.fstat(f.fileno()).st_size
            head = f.read(12)
            if not head:
                raise _broken(path, "the file is empty")
            if head.startswith(b"\x89PNG\r\n\x1a\n"):
                return _walk_png(f, size, path)
            if head.startswith(b"\xff\xd8"):
                exif, found = _walk_jpeg(f, size, path)
            elif head[:4] == b"RIFF" and head[8:12] == b"WEBP":
                f.seek(0)
                exif, found = _walk_webp(f, size, path), _Found()
            else:
                raise NoParametersFound(
                    f"{path.name} is not a PNG, JPEG or WebP image, so it carries no parameters we read."
                )
    except OSError as exc:
        raise ImageReadError(f"Could not read {path}: {exc.strerror or exc}.", "Check the file.") from exc
    if exif is not None:
        _from_exif(exif, found, path)
    return found


def read_parameters(path: Path) -> ImageParameters:
    """The parameters embedded in an image: exact for ours, partial (A1111 text) for other tools'.

    Raises ``NoParametersFound`` for an image without any, ``ImageReadError`` for a broken one.
    """
    path = Path(path)
    found = _read_found(path)
    if found.record is not None:
        return ImageParameters.from_record(record_from_json(found.record))
    if found.parameters is not None:
        try:
            return parse_parameters(found.parameters)
        except ParametersTooLong as exc:
            raise ParametersTooLong(
                f"{path.name}: {exc.message[0].lower()}{exc.message[1:]}", exc.hint
            ) from exc
        except NoParametersFound:
            pass
    raise NoParametersFound(
        f"No generation parameters found in {path.name}.",
        "It was not made by Würstchen Desktop or by a tool that stores A1111-style parameters.",
    )


def read_record(path: Path) -> ImageRecord:
    """Our exact record; ``NoParametersFound`` if the image was not made by this app."""
    record = read_parameters(path).record
    if record is None:
        raise NoParametersFound(f"{Path(path).name} was not made by Würstchen Desktop.")
    return record


@contextlib.contextmanager
def open_pixels(
    path: Path, draft: tuple[int, int] | None = None, data: bytes | None = None
) -> Iterator[Image.Image]:
    """Open and decode an image, refusing decompression bombs and reporting damage clearly.

    ``draft`` lets JPEG decode at a reduced scale no smaller than that size (for thumbnails). ``data``,
    when given, are the file's bytes already read; ``path`` then only names it in messages.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            source = open_regular(path) if data is None else io.BytesIO(data)
            with source as f, Image.open(f) as im:
                if im.width * im.height > MAX_PIXELS:
                    raise _broken(path, f"it claims {im.width}x{im.height} pixels, far too many")
                if draft is not None:
                    im.draft("RGB", draft)
                im.load()
                yield im
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise _broken(path, "it is a decompression bomb (far too many pixels)") from exc
    except (OSError, SyntaxError, ValueError, struct.error, EOFError) as exc:
        raise _broken(path, str(exc) or type(exc).__name__) from exc
