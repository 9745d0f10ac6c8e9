"""ICC profiles for the colour tests, built by hand from the ICC specification: an RGB profile that is
not sRGB, and a small CMYK printer profile, so the tests need no profile files from the system."""

from __future__ import annotations

import struct

import numpy as np
from PIL import Image, ImageCms

D50 = (0.9642, 1.0, 0.8249)


def _s15(x: float) -> bytes:
    return struct.pack(">i", round(x * 65536))


def swapped_srgb() -> bytes:
    """sRGB with its red and blue primaries swapped, named "Swap built-in": a pixel stored as pure red
    means sRGB blue."""
    data = bytearray(ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes())
    count = struct.unpack(">I", data[128:132])[0]
    entries = {bytes(data[132 + 12 * i : 136 + 12 * i]): 132 + 12 * i for i in range(count)}
    red, blue = entries[b"rXYZ"], entries[b"bXYZ"]
    data[red + 4 : red + 12], data[blue + 4 : blue + 12] = (
        data[blue + 4 : blue + 12],
        data[red + 4 : red + 12],
    )
    data[84:100] = bytes(16)  # the profile ID no longer matches; zero means "not computed"
    return bytes(data).replace("sRGB".encode("utf-16-be"), "Swap".encode("utf-16-be"))


def _lab_of_srgb(rgb: tuple[int, int, int]) -> tuple[int, int, int]:
    """8-bit ICC v2 Lab encoding (L * 255 / 100, a + 128, b + 128) of an sRGB colour."""
    to_lab = ImageCms.buildTransform(
        ImageCms.createProfile("sRGB"), ImageCms.createProfile("LAB"), "RGB", "LAB"
    )
    lab = ImageCms.applyTransform(Image.new("RGB", (1, 1), rgb), to_lab)
    assert lab is not None
    L, a, b = (int(v) for v in np.asarray(lab)[0, 0])
    return L, a ^ 0x80, b ^ 0x80  # Pillow's LAB holds a and b as signed bytes


# The tiny profile's black ink: a warm sepia (L*, a*, b*), far from the black a naive conversion gives.
# (Its paper stays white: Little CMS maps a profile's paper to white whatever the table says.)
SEPIA_LAB = (30, 10, 25)


def srgb_of_lab(lab: tuple[int, int, int]) -> tuple[int, int, int]:
    """The sRGB colour of an L*a*b* colour, through Little CMS's own Lab profile."""
    L, a, b = lab
    im = Image.new("LAB", (1, 1), (round(L * 255 / 100), a + 128, b + 128))
    out = ImageCms.profileToProfile(
        im, ImageCms.createProfile("LAB"), ImageCms.createProfile("sRGB"), outputMode="RGB"
    )
    assert out is not None
    return out.getpixel((0, 0))  # type: ignore[return-value]


def tiny_cmyk() -> bytes:
    """A version 2 CMYK printer profile with one lut8 table (2 grid points a channel): each ink corner
    is the colour the textbook CMYK formula gives, except black ink alone, which is ``SEPIA_LAB``."""
    corners = []
    for c in (0, 1):  # the first input channel varies slowest
        for m in (0, 1):
            for y in (0, 1):
                for k in (0, 1):
                    if (c, m, y, k) == (0, 0, 0, 1):
                        lab = (round(SEPIA_LAB[0] * 255 / 100), 128 + SEPIA_LAB[1], 128 + SEPIA_LAB[2])
                    else:
                        rgb = tuple(255 * (1 - ink) * (1 - k) for ink in (c, m, y))
                        lab = _lab_of_srgb(rgb)  # type: ignore[arg-type]
                    corners.append(bytes(lab))
    identity = bytes(range(256))
    matrix = b"".join(_s15(1.0 if i % 4 == 0 else 0.0) for i in range(9))
    a2b0 = b"mft1" + bytes(4) + bytes([4, 3, 2, 0]) + matrix + identity * 4 + b"".join(corners) + identity * 3
    text = b"Tiny CMYK\0"
    desc = b"desc" + bytes(4) + struct.pack(">I", len(text)) + text + bytes(4 + 4 + 2 + 1 + 67)
    wtpt = b"XYZ " + bytes(4) + b"".join(_s15(v) for v in D50)
    tags = [(b"desc", desc), (b"wtpt", wtpt), (b"A2B0", a2b0)]
    offset = 128 + 4 + 12 * len(tags)
    table, body = b"", b""
    for sig, tag in tags:
        table += sig + struct.pack(">II", offset + len(body), len(tag))
        body += tag + bytes(-len(tag) % 4)
    size = offset + len(body)
    header = (
        struct.pack(">I", size)
        + bytes(4)
        + struct.pack(">I", 0x02100000)
        + b"prtrCMYKLab "
        + bytes(12)
        + b"acsp"
        + bytes(28)
        + b"".join(_s15(v) for v in D50)
        + bytes(48)
    )
    assert len(header) == 128
    return header + struct.pack(">I", len(tags)) + table + body
