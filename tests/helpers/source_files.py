"""Picture files for the source-image tests: saved by Pillow, or written from the PNG specification where
Pillow cannot write them (16-bit RGB)."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np
from PIL import Image


def save(im: Image.Image, path: Path, **kwargs: object) -> Path:
    """``im`` saved at ``path`` by Pillow."""
    im.save(path, **kwargs)
    return path


def png_16bit_rgb(path: Path, rgb: np.ndarray) -> Path:
    """A 16-bit RGB PNG written from the specification (Pillow writes only 8-bit RGB)."""
    h, w, _ = rgb.shape
    rows = b"".join(b"\0" + row.astype(">u2").tobytes() for row in rgb)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", w, h, 16, 2, 0, 0, 0)
    idat = chunk(b"IDAT", zlib.compress(rows))
    data = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + idat + chunk(b"IEND", b"")
    path.write_bytes(data)
    return path
