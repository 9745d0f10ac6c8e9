"""Prompts longer than metadata holds: checked before a job, cut short in EXIF, never a lost image."""

from __future__ import annotations

import io
import struct
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from wuerstchen_desktop.core.errors import InvalidParams
from wuerstchen_desktop.core.imagefile import write
from wuerstchen_desktop.core.imagefile.a1111 import ELLIPSIS, decode_user_comment
from wuerstchen_desktop.core.imagefile.parameters_text import parse_parameters
from wuerstchen_desktop.core.imagefile.read import read_parameters, read_record
from wuerstchen_desktop.core.imagefile.record import Blend, ImageRecord, encode_latent
from wuerstchen_desktop.core.imagefile.write import check_fits, write_image
from wuerstchen_desktop.core.params import GenerationParams

LONG = "a castle on a hill, " * 2000  # 40,000 characters: 80 KB as UTF-16, beyond one EXIF segment


def picture() -> Image.Image:
    return Image.fromarray(np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8))


def exif_segment(path: Path) -> tuple[int, str]:
    """The length of a JPEG's APP1 segment and the A1111 text in its UserComment."""
    data = path.read_bytes()
    pos = data.index(b"\xff\xe1")
    with Image.open(io.BytesIO(data)) as im:
        comment = im.getexif().get_ifd(0x8769)[0x9286]
    return struct.unpack(">H", data[pos + 2 : pos + 4])[0], decode_user_comment(comment)


@pytest.mark.parametrize(
    "params, blend",
    [
        (GenerationParams(LONG, seed=7), None),
        (GenerationParams("short", LONG + "ü日🐱" * 3000, seed=7), None),
        (GenerationParams(LONG, LONG, seed=7), Blend(GenerationParams("🐱" * 20_000, seed=8), 0.25)),
    ],
    ids=["prompt", "negative", "everything"],
)
def test_a_jpeg_with_a_long_prompt_is_saved_whole(tmp_path: Path, params, blend) -> None:
    latent = encode_latent(np.ones((16, 24, 24)))
    rec = ImageRecord(params, prior_schedule=(1.0, 0.0), latent=latent, blend=blend)
    notes: list[str] = []
    path = write_image(picture(), rec, tmp_path, "jpeg", notes=notes)
    assert notes == []  # nothing fell back: the text was shortened by design
    got = read_record(path)  # our record keeps every character
    assert got.params == params and got.blend == blend and got.latent == latent
    length, text = exif_segment(path)
    assert length <= 65535
    other = parse_parameters(text)  # what another tool reads: the same job, its prompts cut short
    assert other.seed == 7 and other.steps == 29 and (other.width, other.height) == (1024, 1024)
    assert "Text shortened: prompts cut to fit EXIF" in text.rsplit("\n", 1)[-1]
    cut = other.prompt if len(params.prompt) > 100 else other.negative_prompt
    full = params.prompt if len(params.prompt) > 100 else params.negative_prompt
    assert cut.endswith(ELLIPSIS) and full.startswith(cut[:-1]) and len(cut) > 5_000


def test_a_short_prompt_is_not_touched(tmp_path: Path) -> None:
    rec = ImageRecord(GenerationParams("a cat", "dog"))
    _, text = exif_segment(write_image(picture(), rec, tmp_path, "jpeg"))
    assert text.startswith("a cat\nNegative prompt: dog\n") and "shortened" not in text


def test_check_fits_before_a_job() -> None:
    assert check_fits(GenerationParams("a cat"), "jpeg") == []
    assert check_fits(GenerationParams(LONG), "png") == check_fits(GenerationParams(LONG), "webp") == []
    (note,) = check_fits(GenerationParams(LONG, images=4), "jpeg")
    assert "too long for a JPEG" in note and "Choose PNG" in note
    with pytest.raises(InvalidParams) as err:  # ASCII-escaped, 400,000 cats make 4.8 MB of record
        check_fits(GenerationParams("🐱" * 400_000), "png")
    assert "too long to be saved" in err.value.message and "77 tokens" in err.value.hint
    with pytest.raises(InvalidParams):
        check_fits(GenerationParams("a"), "gif")


def test_metadata_that_cannot_be_encoded_never_costs_the_image(tmp_path: Path, monkeypatch) -> None:
    real = write._exif
    monkeypatch.setattr(write, "_exif", lambda text, record: real(text, record) + b"\0" * 70_000)
    notes: list[str] = []
    rec = ImageRecord(GenerationParams("a cat", seed=3))
    path = write_image(picture(), rec, tmp_path, "jpeg", notes=notes)
    (note,) = notes
    assert "could not all be embedded" in note and "only its exact record" in note
    assert read_parameters(path).record == read_record(path) and read_record(path).params == rec.params
    with Image.open(path) as im:
        assert im.size == (32, 32) and "exif" not in im.info
