"""A picture to start from: every kind of file a person may drop, read into 8-bit sRGB at a valid size,
with a sentence for each change, and every file that is not a picture refused in one sentence."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageOps

from tests.helpers.icc import SEPIA_LAB, srgb_of_lab, swapped_srgb, tiny_cmyk
from tests.helpers.source_files import png_16bit_rgb, save
from wuerstchen_desktop.core.imagefile.source import read_source


def close(got: tuple[int, ...], want: tuple[int, ...], tolerance: int) -> bool:
    return all(abs(g - w) <= tolerance for g, w in zip(got, want, strict=True))


# --- what a picture is made of -------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP", "BMP", "TIFF", "GIF"])
def test_each_format_is_read_in_its_colours(tmp_path: Path, fmt: str) -> None:
    path = save(Image.new("RGB", (256, 256), (200, 40, 90)), tmp_path / f"a.{fmt.lower()}", format=fmt)
    src = read_source(path)
    assert src.image.mode == "RGB" and src.image.size == src.size == src.original_size == (256, 256)
    assert close(src.image.getpixel((100, 100)), (200, 40, 90), 6)  # GIF's palette and JPEG round a little
    assert src.format == fmt and src.notes == ()


def test_an_animated_gif_gives_its_first_frame_and_says_so(tmp_path: Path) -> None:
    frames = [Image.new("RGB", (256, 256), c) for c in ((255, 0, 0), (0, 0, 255), (0, 255, 0))]
    path = save(frames[0], tmp_path / "a.gif", save_all=True, append_images=frames[1:], duration=100)
    src = read_source(path)
    assert src.image.getpixel((10, 10)) == (255, 0, 0)
    assert src.notes == ("It is an animated GIF; its first frame is used.",)


def test_a_multi_page_tiff_gives_its_first_page_and_says_so(tmp_path: Path) -> None:
    pages = [Image.new("RGB", (256, 256), c) for c in ((0, 0, 255), (255, 0, 0))]
    src = read_source(save(pages[0], tmp_path / "a.tif", save_all=True, append_images=pages[1:]))
    assert src.image.getpixel((10, 10)) == (0, 0, 255)
    assert src.notes == ("It holds several pages (TIFF); its first page is used.",)


def test_a_grey_png_with_a_transparent_level_is_composited_on_white(tmp_path: Path) -> None:
    im = Image.new("L", (256, 256), 0)
    im.paste(90, (128, 0, 256, 256))
    src = read_source(save(im, tmp_path / "a.png", transparency=0))
    assert src.image.getpixel((10, 10)) == (255, 255, 255) and src.image.getpixel((200, 10)) == (90, 90, 90)
    assert src.notes == ("Its transparent parts were filled with white.",)


def test_transparency_is_composited_on_white(tmp_path: Path) -> None:
    rgba = np.zeros((256, 256, 4), np.uint8)
    rgba[:, 128:] = (255, 0, 0, 128)  # half-covering red over the right half; the left is clear black
    src = read_source(save(Image.fromarray(rgba, "RGBA"), tmp_path / "a.png"))
    assert src.image.getpixel((10, 10)) == (255, 255, 255)
    assert close(src.image.getpixel((200, 10)), (255, 127, 127), 1)  # 255 * 127/255 of white shows through
    assert src.notes == ("Its transparent parts were filled with white.",)


def test_grey_with_alpha_is_composited_on_white(tmp_path: Path) -> None:
    la = np.zeros((256, 256, 2), np.uint8)
    la[:, 128:] = (0, 255)  # opaque black ink on the right, nothing on the left
    src = read_source(save(Image.fromarray(la, "LA"), tmp_path / "a.png"))
    assert src.image.getpixel((10, 10)) == (255, 255, 255) and src.image.getpixel((200, 10)) == (0, 0, 0)
    assert "Its transparent parts were filled with white." in src.notes


def test_an_opaque_alpha_channel_is_dropped_without_a_note(tmp_path: Path) -> None:
    src = read_source(save(Image.new("RGBA", (256, 256), (1, 2, 3, 255)), tmp_path / "a.png"))
    assert src.image.getpixel((0, 0)) == (1, 2, 3) and src.notes == ()


@pytest.mark.parametrize("fmt", ["PNG", "GIF"])
def test_a_palette_with_a_transparent_entry_is_composited_on_white(tmp_path: Path, fmt: str) -> None:
    im = Image.new("P", (256, 256), 0)
    im.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
    im.paste(1, (128, 0, 256, 256))
    src = read_source(save(im, tmp_path / f"a.{fmt.lower()}", transparency=0))
    assert src.image.getpixel((10, 10)) == (255, 255, 255)  # the transparent entry is black underneath
    assert src.image.getpixel((200, 10)) == (255, 0, 0)
    assert "Its transparent parts were filled with white." in src.notes


def test_a_colour_keyed_rgb_png_is_composited_on_white(tmp_path: Path) -> None:
    im = Image.new("RGB", (256, 256), (0, 0, 0))
    im.paste((0, 0, 255), (128, 0, 256, 256))
    src = read_source(save(im, tmp_path / "a.png", transparency=(0, 0, 0)))
    assert src.image.getpixel((10, 10)) == (255, 255, 255) and src.image.getpixel((200, 10)) == (0, 0, 255)


def test_a_16_bit_grey_gradient_keeps_its_full_range(tmp_path: Path) -> None:
    gradient = np.arange(65536, dtype=np.uint16).reshape(256, 256)
    path = save(Image.fromarray(gradient), tmp_path / "a.png")
    with Image.open(path) as check:
        assert check.mode == "I;16"  # the file really holds 16-bit grey
    got = np.asarray(read_source(path).image)[..., 0].astype(np.int64)
    want = np.rint(gradient / 65535 * 255)
    assert np.abs(got - want).max() == 0  # scaled, not clipped at 255
    assert got.min() == 0 and got.max() == 255 and len(np.unique(got)) == 256
    assert read_source(path).notes == ("Its 16-bit grey levels were reduced to 8 bits.",)


def test_a_16_bit_rgb_png_keeps_its_full_range(tmp_path: Path) -> None:
    rgb = np.zeros((256, 256, 3), np.uint16)
    rgb[..., 0] = np.arange(65536, dtype=np.uint16).reshape(256, 256)
    rgb[..., 1] = 32768
    rgb[..., 2] = 65535
    src = read_source(png_16bit_rgb(tmp_path / "a.png", rgb))
    got = np.asarray(src.image).astype(np.int64)
    assert np.abs(got[..., 0] - np.rint(rgb[..., 0] / 65535 * 255)).max() <= 1
    assert len(np.unique(got[..., 0])) == 256 and got[..., 0].max() == 255
    assert (got[..., 1] == 128).all() and (got[..., 2] == 255).all()
    assert src.notes == ("Its 16-bit colours were reduced to 8 bits.",)


def test_lab_colours_are_converted_to_srgb(tmp_path: Path) -> None:
    lab = Image.new("LAB", (256, 256), (round(53.24 * 2.55), 128 + 80, 128 + 67))  # sRGB red in L*a*b*
    src = read_source(save(lab, tmp_path / "a.tif"))
    assert close(src.image.getpixel((10, 10)), (255, 0, 0), 12)
    assert src.notes == ("Converted from L*a*b* colours to sRGB.",)


def test_floating_point_pixels_keep_their_full_range(tmp_path: Path) -> None:
    ramp = np.linspace(0, 1, 256 * 256, dtype=np.float32).reshape(256, 256)
    src = read_source(save(Image.fromarray(ramp), tmp_path / "a.tif"))
    got = np.asarray(src.image)[..., 0].astype(np.int64)
    assert np.abs(got - np.rint(ramp * 255)).max() <= 1 and len(np.unique(got)) == 256
    assert src.notes == ("Its floating-point values from 0 to 1 were scaled to 8 bits.",)


def test_32_bit_integer_pixels_are_stretched_over_8_bits(tmp_path: Path) -> None:
    ramp = (np.arange(256 * 256, dtype=np.int32) * 10 - 5000).reshape(256, 256)
    src = read_source(save(Image.fromarray(ramp), tmp_path / "a.tif"))
    got = np.asarray(src.image)[..., 0]
    assert got[0, 0] == 0 and got[-1, -1] == 255 and len(np.unique(got)) == 256
    assert src.notes == ("Its values, from -5000 to 650350, were stretched over 8 bits.",)


def test_a_bilevel_picture_is_black_and_white(tmp_path: Path) -> None:
    im = Image.new("1", (256, 256), 0)
    im.paste(1, (128, 0, 256, 256))
    src = read_source(save(im, tmp_path / "a.png"))
    assert src.image.getpixel((10, 10)) == (0, 0, 0) and src.image.getpixel((200, 10)) == (255, 255, 255)


@pytest.mark.parametrize(
    "cmyk, rgb",
    [
        ((0, 0, 0, 0), (255, 255, 255)),
        ((0, 255, 255, 0), (255, 0, 0)),
        ((255, 0, 0, 0), (0, 255, 255)),
        ((0, 0, 0, 255), (0, 0, 0)),
        ((0, 0, 255, 64), (191, 191, 0)),
    ],
)
def test_an_adobe_cmyk_jpeg_is_not_inverted(
    tmp_path: Path, cmyk: tuple[int, ...], rgb: tuple[int, ...]
) -> None:
    path = save(Image.new("CMYK", (256, 256), cmyk), tmp_path / "a.jpg", quality=95)
    assert b"Adobe" in path.read_bytes()  # Pillow writes CMYK inverted, as Photoshop does, and marks it
    src = read_source(path)
    assert close(src.image.getpixel((100, 100)), rgb, 3)
    assert src.notes[0].startswith("Converted from CMYK to RGB without a colour profile")


def test_a_cmyk_jpeg_is_converted_with_its_own_profile(tmp_path: Path) -> None:
    im = Image.new("CMYK", (256, 256), (0, 0, 0, 255))
    im.paste((0, 255, 255, 0), (128, 0, 256, 256))
    src = read_source(save(im, tmp_path / "a.jpg", quality=95, icc_profile=tiny_cmyk()))
    sepia = srgb_of_lab(SEPIA_LAB)  # the profile's black ink: a naive conversion gives black
    assert close(src.image.getpixel((10, 10)), sepia, 6)
    assert close(src.image.getpixel((200, 10)), (255, 0, 0), 8)
    assert src.notes == ("Converted from CMYK to RGB with its colour profile (Tiny CMYK).",)


def test_a_profile_other_than_srgb_is_converted_to_srgb(tmp_path: Path) -> None:
    path = save(Image.new("RGB", (256, 256), (200, 0, 0)), tmp_path / "a.png", icc_profile=swapped_srgb())
    src = read_source(path)
    assert close(src.image.getpixel((10, 10)), (0, 0, 200), 1)  # that profile's red primary is sRGB blue
    assert src.notes == ("Its colours were converted from the Swap built-in profile to sRGB.",)


def test_an_srgb_profile_leaves_the_pixels_as_they_are(tmp_path: Path) -> None:
    from PIL import ImageCms

    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    rgb = np.random.default_rng(0).integers(0, 256, (256, 256, 3), dtype=np.uint8)
    src = read_source(save(Image.fromarray(rgb), tmp_path / "a.png", icc_profile=srgb))
    assert np.array_equal(np.asarray(src.image), rgb) and src.notes == ()


def test_a_damaged_profile_is_ignored_and_said(tmp_path: Path) -> None:
    im = Image.new("RGB", (256, 256), (10, 20, 30))
    path = save(im, tmp_path / "a.png", icc_profile=b"not a profile" * 20)
    src = read_source(path)
    assert src.image.getpixel((0, 0)) == (10, 20, 30)
    assert src.notes == ("Its colour profile is damaged or does not fit its pixels, so it was ignored.",)


# --- EXIF orientation -----------------------------------------------------------------------------------


def upright() -> Image.Image:
    """384x256 (a valid size, so nothing is resized): red top-left, green top-right, grey elsewhere."""
    im = Image.new("RGB", (384, 256), (128, 128, 128))
    im.paste((255, 0, 0), (0, 0, 96, 96))
    im.paste((0, 255, 0), (288, 0, 384, 96))
    return im


# How a camera stores an upright scene for each EXIF orientation (the tag says how to undo it), from the
# EXIF specification's table of where the stored first row and column belong.
STORED = {
    1: lambda im: im,
    2: lambda im: im.transpose(Image.Transpose.FLIP_LEFT_RIGHT),
    3: lambda im: im.transpose(Image.Transpose.ROTATE_180),
    4: lambda im: im.transpose(Image.Transpose.FLIP_TOP_BOTTOM),
    5: lambda im: im.transpose(Image.Transpose.TRANSPOSE),
    6: lambda im: im.transpose(Image.Transpose.ROTATE_90),
    7: lambda im: im.transpose(Image.Transpose.TRANSVERSE),
    8: lambda im: im.transpose(Image.Transpose.ROTATE_270),
}


@pytest.mark.parametrize("orientation", range(1, 9))
def test_each_exif_orientation_is_turned_upright(tmp_path: Path, orientation: int) -> None:
    exif = Image.Exif()
    exif[0x0112] = orientation
    path = save(STORED[orientation](upright()), tmp_path / "a.jpg", exif=exif, quality=95)
    src = read_source(path)
    assert src.original_size == src.size == (384, 256)
    assert close(src.image.getpixel((40, 40)), (255, 0, 0), 12)
    assert close(src.image.getpixel((340, 40)), (0, 255, 0), 12)
    assert close(src.image.getpixel((40, 220)), (128, 128, 128), 12)
    with Image.open(path) as im:
        oracle = ImageOps.exif_transpose(im).convert("RGB")
    assert np.array_equal(np.asarray(src.image), np.asarray(oracle))
    assert any(n.startswith("Turned upright") for n in src.notes) == (orientation != 1)


@pytest.mark.parametrize("orientation", [3, 5, 6])
@pytest.mark.parametrize("fmt", ["PNG", "WEBP", "TIFF"])
def test_exif_orientation_is_honoured_in_other_formats(tmp_path: Path, fmt: str, orientation: int) -> None:
    """TIFF is turned by Pillow itself while decoding; it is said all the same."""
    exif = Image.Exif()
    exif[0x0112] = orientation
    kwargs = {"lossless": True} if fmt == "WEBP" else {}
    path = save(
        STORED[orientation](upright()), tmp_path / f"a.{fmt.lower()}", format=fmt, exif=exif, **kwargs
    )
    src = read_source(path)
    assert src.image.getpixel((40, 40)) == (255, 0, 0) and src.image.getpixel((340, 40)) == (0, 255, 0)
    how = {3: "turned 180°", 5: "turned 90° clockwise and mirrored", 6: "turned 90° clockwise"}[orientation]
    assert src.notes == (f"Turned upright as its EXIF orientation asks ({how}).",)
