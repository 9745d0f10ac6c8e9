"""A picture to start from: the size chosen for it, what is read and kept, and each file that is not a
picture refused in one sentence that says what to do, without waiting and without writing anything."""

from __future__ import annotations

import hashlib
import os
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.helpers.icc import tiny_cmyk
from tests.helpers.source_files import png_16bit_rgb, save
from wuerstchen_desktop.core.errors import ImageReadError, InvalidParams
from wuerstchen_desktop.core.imagefile.source import read_source

NEAREST = ", the nearest size Würstchen makes."


# --- the size chosen --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "size, chosen, notes",
    [
        ((1024, 1024), (1024, 1024), ()),
        ((2048, 2048), (1024, 1024), ("Resized from 2048x2048 to 1024x1024" + NEAREST,)),
        (
            (1920, 1080),
            (1408, 768),
            (
                "Resized from 1920x1080 to 1408x768" + NEAREST,
                "Cropped 16 pixels of the original off the top and 16 off the bottom to fit.",
            ),
        ),
        (
            (1080, 1920),
            (768, 1408),
            (
                "Resized from 1080x1920 to 768x1408" + NEAREST,
                "Cropped 16 pixels of the original off the left and 16 off the right to fit.",
            ),
        ),
        ((3000, 1000), (1920, 640), ("Resized from 3000x1000 to 1920x640" + NEAREST,)),
        (
            (16, 16),
            (256, 256),
            (
                "Resized from 16x16 to 256x256: it is smaller than Würstchen's smallest size, "
                "so expect a soft result.",
            ),
        ),
        ((9000, 9000), (1024, 1024), ("Resized from 9000x9000 to 1024x1024" + NEAREST,)),
    ],
    ids=["1:1", "1:1-big", "16:9", "9:16", "3:1", "tiny", "huge"],
)
def test_the_size_is_the_valid_one_nearest_the_pictures(
    tmp_path: Path, size: tuple[int, int], chosen: tuple[int, int], notes: tuple[str, ...]
) -> None:
    w, h = size
    im = Image.new("L", size, 0)
    side = min(w, h) // 2
    im.paste(255, ((w - side) // 2, (h - side) // 2, (w + side) // 2, (h + side) // 2))  # a centred square
    src = read_source(save(im, tmp_path / "a.png"))
    assert src.original_size == size and src.size == src.image.size == chosen and src.notes == notes
    ys, xs = np.nonzero(np.asarray(src.image)[..., 0] > 127)
    assert abs((xs.max() - xs.min()) - (ys.max() - ys.min())) <= 2  # cropped to the aspect, not stretched
    assert abs(xs.mean() - (chosen[0] - 1) / 2) <= 1 and abs(ys.mean() - (chosen[1] - 1) / 2) <= 1  # centred


def test_a_target_size_is_met_exactly(tmp_path: Path) -> None:
    path = save(Image.new("RGB", (1024, 1024), (9, 9, 9)), tmp_path / "a.png")
    src = read_source(path, target=(2048, 2048))
    assert src.size == src.image.size == (2048, 2048) and src.original_size == (1024, 1024)
    assert src.notes == ("Resized from 1024x1024 to 2048x2048" + NEAREST,)
    wide = read_source(path, target=(1024, 512))
    assert wide.image.size == (1024, 512)
    assert wide.notes[-1] == "Cropped 256 pixels of the original off the top and 256 off the bottom to fit."


@pytest.mark.parametrize("target", [(1000, 1024), (1024, 128), (4096, 1024)])
def test_a_target_that_is_not_a_valid_size_is_refused(tmp_path: Path, target: tuple[int, int]) -> None:
    path = save(Image.new("RGB", (256, 256)), tmp_path / "a.png")
    with pytest.raises(InvalidParams, match="is not a size Würstchen makes"):
        read_source(path, target=target)


# --- what is read, and nothing written ---------------------------------------------------------------------


def test_the_sha256_is_of_the_bytes_read_and_pasted_bytes_read_alike(tmp_path: Path) -> None:
    path = save(Image.new("RGB", (300, 200), (1, 2, 3)), tmp_path / "a.png")
    data = path.read_bytes()
    from_file, pasted = read_source(path), read_source(data)
    assert from_file.sha256 == pasted.sha256 == hashlib.sha256(data).hexdigest()
    assert np.array_equal(np.asarray(from_file.image), np.asarray(pasted.image))
    assert from_file.notes == pasted.notes and read_source(str(path)).sha256 == from_file.sha256


def test_reading_writes_nothing(tmp_path: Path) -> None:
    exif = Image.Exif()
    exif[0x0112] = 6
    save(Image.new("RGBA", (100, 50), (1, 2, 3, 4)), tmp_path / "a.png")
    save(Image.new("CMYK", (600, 300)), tmp_path / "b.jpg", exif=exif, icc_profile=tiny_cmyk())
    png_16bit_rgb(tmp_path / "c.png", np.zeros((20, 20, 3), np.uint16))
    before = {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in tmp_path.iterdir()}
    for path in sorted(before):
        read_source(path)
    assert {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in tmp_path.iterdir()} == before


# --- refused, in one sentence that says what to do ----------------------------------------------------------


def refused(source: Path | bytes) -> str:
    with pytest.raises(ImageReadError) as info:
        read_source(source)
    text = str(info.value)
    assert "\n" not in text and text.endswith(".") and info.value.hint
    return text


def test_a_file_that_is_not_a_picture_is_refused(tmp_path: Path) -> None:
    (tmp_path / "notes.png").write_text("a shopping list, not a picture\n")
    text = refused(tmp_path / "notes.png")
    assert text.startswith(
        "notes.png is not a picture this app can read (PNG, JPEG, WebP, BMP, TIFF or GIF)."
    )
    assert refused(b"%PDF-1.4 something else").startswith(
        "The pasted image is not a picture this app can read"
    )


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP", "GIF", "TIFF", "BMP"])
def test_a_truncated_picture_is_refused(tmp_path: Path, fmt: str) -> None:
    noise = np.random.default_rng(1).integers(0, 256, (256, 256, 3), dtype=np.uint8)
    whole = save(Image.fromarray(noise), tmp_path / "whole", format=fmt).read_bytes()
    (tmp_path / "cut").write_bytes(whole[: len(whole) // 2])
    assert "damaged or not a real image" in refused(tmp_path / "cut")


def test_a_decompression_bomb_is_refused(tmp_path: Path) -> None:
    path = save(Image.new("1", (12000, 9000)), tmp_path / "bomb.png")  # 108 million pixels in a tiny file
    assert path.stat().st_size < 100_000
    assert "decompression bomb" in refused(path) or "far too many" in refused(path)


def test_an_empty_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "empty.png").write_bytes(b"")
    assert refused(tmp_path / "empty.png").startswith("empty.png is empty (0 bytes)")
    assert refused(b"").startswith("The pasted image is empty")


def test_a_picture_without_pixels_is_refused(tmp_path: Path) -> None:
    gif = bytearray(save(Image.new("P", (8, 8)), tmp_path / "a.gif").read_bytes())
    gif[6:10] = bytes(4)  # a logical screen of 0x0
    frame = gif.index(b"\x2c\0\0\0\0")  # the image descriptor, at left 0, top 0
    gif[frame + 5 : frame + 9] = bytes(4)  # and a frame of 0x0
    (tmp_path / "zero.gif").write_bytes(bytes(gif))
    png = bytearray(save(Image.new("RGB", (8, 8)), tmp_path / "a.png").read_bytes())
    png[16:20] = bytes(4)  # IHDR width 0
    png[29:33] = struct.pack(">I", zlib.crc32(bytes(png[12:29])))
    (tmp_path / "zero.png").write_bytes(bytes(png))
    for name, kind in (("zero.gif", "GIF"), ("zero.png", "PNG")):
        assert refused(tmp_path / name).startswith(
            f"{name} is damaged or not a real image: its {kind} header is invalid (a zero size, say)."
        )


def test_a_folder_a_fifo_and_a_device_are_refused_without_waiting(tmp_path: Path) -> None:
    assert refused(tmp_path).startswith(f"{tmp_path.name} is a folder, not a picture.")
    os.mkfifo(tmp_path / "pipe.png")  # no writer: reading it would wait for ever
    assert "not a regular file" in refused(tmp_path / "pipe.png")
    assert "not a regular file" in refused(Path("/dev/zero"))  # would never end


def test_a_missing_or_unreadable_path_is_refused(tmp_path: Path) -> None:
    assert refused(tmp_path / "gone.png").startswith(f"Could not read {tmp_path / 'gone.png'}")
    (tmp_path / "link.png").symlink_to(tmp_path / "nowhere.png")
    assert "Could not read" in refused(tmp_path / "link.png")
