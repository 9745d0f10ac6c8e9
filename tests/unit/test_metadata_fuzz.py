"""Hostile and broken files: every read ends in parameters or a clear error, quickly, never a crash."""

from __future__ import annotations

import contextlib
import functools
import io
import json
import struct
import tempfile
import time
import zlib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image, PngImagePlugin

from wuerstchen_desktop.cli import main
from wuerstchen_desktop.core.errors import ImageReadError, WuerstchenError
from wuerstchen_desktop.core.imagefile.read import read_parameters
from wuerstchen_desktop.core.imagefile.record import (
    Blend,
    ImageParameters,
    ImageRecord,
    encode_latent,
    record_to_dict,
)
from wuerstchen_desktop.core.imagefile.record_json import record_from_json
from wuerstchen_desktop.core.imagefile.write import export_clean, write_image
from wuerstchen_desktop.core.params import GenerationParams

# No per-example deadline: a loaded CI machine is slow, and read_bytes() itself fails any read over 2 s.
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
RECORD = ImageRecord(
    GenerationParams("a cat", seed=3), prior_schedule=(1.0, 0.0), latent=encode_latent(np.ones((16, 3, 3)))
)


@functools.cache
def original(fmt: str) -> bytes:
    """One of our files, as bytes (kept out of test arguments so failure reports stay short)."""
    with tempfile.TemporaryDirectory() as folder:
        pixels = Image.fromarray(np.random.default_rng(0).integers(0, 256, (48, 48, 3), dtype=np.uint8))
        return write_image(pixels, RECORD, Path(folder), fmt).read_bytes()


def read_bytes(folder: Path, data: bytes, name: str = "x.png") -> object:
    path = folder / name
    path.write_bytes(data)
    started = time.monotonic()
    try:
        return read_parameters(path)
    except WuerstchenError as exc:
        assert exc.message and exc.message[-1] in ".)", exc.message
        return exc
    finally:
        assert time.monotonic() - started < 2


def png_chunk(ctype: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + ctype + data + struct.pack(">I", zlib.crc32(ctype + data))


def png_with(*chunks: bytes) -> bytes:
    sig = b"\x89PNG\r\n\x1a\n"
    ihdr = png_chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0))
    idat = png_chunk(b"IDAT", zlib.compress(b"\x00\x00"))
    return sig + ihdr + b"".join(chunks) + idat + png_chunk(b"IEND", b"")


@FUZZ
@given(fmt=st.sampled_from(["png", "jpeg", "webp"]), data=st.data())
def test_any_truncation_is_a_clear_error(tmp_path: Path, fmt: str, data) -> None:
    full = original(fmt)
    cut = data.draw(st.integers(12, len(full) - 1))  # shorter than a signature is simply not an image
    result = read_bytes(tmp_path, full[:cut], f"x.{fmt}")
    assert isinstance(result, ImageReadError), (cut, result)


@FUZZ
@given(fmt=st.sampled_from(["png", "jpeg", "webp"]), data=st.data())
def test_corrupted_bytes_never_crash(tmp_path: Path, fmt: str, data) -> None:
    blob = bytearray(original(fmt))
    for _ in range(data.draw(st.integers(1, 8))):
        blob[data.draw(st.integers(0, len(blob) - 1))] = data.draw(st.integers(0, 255))
    result = read_bytes(tmp_path, bytes(blob), f"x.{fmt}")
    if not isinstance(result, WuerstchenError):
        assert result.record is None or isinstance(result.record.params, GenerationParams)


@FUZZ
@given(
    head=st.sampled_from([b"\x89PNG\r\n\x1a\n", b"\xff\xd8", b"RIFF\xff\xff\x00\x00WEBP", b""]),
    tail=st.binary(),
)
def test_random_bytes_never_crash(tmp_path: Path, head: bytes, tail: bytes) -> None:
    read_bytes(tmp_path, head + tail)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=8,
)


@FUZZ
@given(data=st.data(), value=json_values)
def test_wrong_types_in_our_json(tmp_path: Path, data, value) -> None:
    record = record_to_dict(RECORD)
    node, key = record, None
    while True:  # walk to a random place in the record and put a random JSON value there
        key = data.draw(st.sampled_from(sorted(node)))
        if isinstance(node[key], dict) and node[key] and data.draw(st.booleans()):
            node = node[key]
            continue
        node[key] = value
        break
    info = PngImagePlugin.PngInfo()
    info.add_text("wuerstchen", json.dumps(record), zip=True)
    path = tmp_path / "x.png"
    Image.new("RGB", (4, 4)).save(path, pnginfo=info)
    try:
        got = read_parameters(path)
    except ImageReadError as exc:
        assert "damaged" in exc.message or "newer" in exc.message
    else:
        assert got.record is not None and isinstance(got.record.params, GenerationParams)


@settings(max_examples=300, deadline=None)
@given(text=st.text(max_size=200) | json_values.map(json.dumps))
def test_record_parser_fuzz(text: str) -> None:
    with contextlib.suppress(ImageReadError):
        record_from_json(text)


@pytest.mark.parametrize("key", [b"wuerstchen", b"parameters"])
def test_text_decompression_bomb(tmp_path: Path, key: bytes) -> None:
    bomb = zlib.compress(b"{" + b" " * 200_000_000, 9)  # 200 MB of text in a few hundred KB
    ztxt = png_chunk(b"zTXt", key + b"\0\0" + bomb)
    itxt = png_chunk(b"iTXt", key + b"\0\1\0\0\0" + bomb)
    for chunk in (ztxt, itxt):
        result = read_bytes(tmp_path, png_with(chunk))
        assert isinstance(result, ImageReadError) and "expands beyond" in result.message


def test_jpeg_record_bomb(tmp_path: Path) -> None:
    bomb = zlib.compress(b" " * 60_000_000, 9)  # fits one 64 KiB segment
    segment = b"WUERSTCHEN\0" + struct.pack(">HH", 0, 1) + bomb
    buf = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buf, format="JPEG")
    jpeg = buf.getvalue()
    data = jpeg[:2] + b"\xff\xeb" + struct.pack(">H", len(segment) + 2) + segment + jpeg[2:]
    result = read_bytes(tmp_path, data, "x.jpg")
    assert isinstance(result, ImageReadError) and "expands beyond" in result.message


def test_gigantic_text_chunks(tmp_path: Path) -> None:
    claimed = struct.pack(">I", 2**31 - 1) + b"tEXtparameters\0hello"
    result = read_bytes(tmp_path, png_with(claimed))
    assert isinstance(result, ImageReadError) and "truncated" in result.message
    huge = png_chunk(b"tEXt", b"parameters\0" + b"a" * 9_000_000)
    result = read_bytes(tmp_path, png_with(huge))
    assert isinstance(result, ImageReadError) and "gigantic" in result.message
    other = png_chunk(b"tEXt", b"XML:com.adobe.xmp\0" + b"a" * 9_000_000)  # not ours: skipped
    assert "No generation parameters" in read_bytes(tmp_path, png_with(other)).message


@pytest.mark.parametrize(
    "chunk",
    [
        png_chunk(b"tEXt", b"parameters"),  # no NUL after the keyword
        png_chunk(b"iTXt", b"wuerstchen\0\0\0"),  # missing language and keyword fields
        png_chunk(b"iTXt", b"wuerstchen\0\0\0\0\0\xff\xfe{"),  # not UTF-8
        png_chunk(b"zTXt", b"wuerstchen\0\0not zlib"),
        png_chunk(b"tEXt", b"wuerstchen\0{not json"),
        png_chunk(b"tEXt", b"wuerstchen\0[1, 2]"),
        png_chunk(b"tEXt", b'wuerstchen\0{"schema": 1, "params": "x"}'),
        png_chunk(b"tEXt", b"wuerstchen\0" + b"[" * 100_000),  # deep nesting
    ],
)
def test_malformed_text_chunks(tmp_path: Path, chunk: bytes) -> None:
    assert isinstance(read_bytes(tmp_path, png_with(chunk)), ImageReadError)


def test_pixel_bomb_reads_metadata_but_refuses_to_decode(tmp_path: Path) -> None:
    ihdr = png_chunk(b"IHDR", struct.pack(">IIBBBBB", 100_000, 100_000, 8, 2, 0, 0, 0))
    data = (
        b"\x89PNG\r\n\x1a\n"
        + ihdr
        + png_chunk(b"IDAT", zlib.compress(b"\0" * 1000))
        + png_chunk(b"IEND", b"")
    )
    assert "No generation parameters" in read_bytes(tmp_path, data).message
    with pytest.raises(ImageReadError) as err:
        export_clean(tmp_path / "x.png", tmp_path / "out")
    assert "too many" in err.value.message or "bomb" in err.value.message


def test_missing_empty_and_folder(tmp_path: Path) -> None:
    for path in (tmp_path / "nowhere.png", tmp_path):
        with pytest.raises(ImageReadError):
            read_parameters(path)
    assert isinstance(read_bytes(tmp_path, b""), ImageReadError)


BLENDED = ImageRecord(
    GenerationParams("a cat", seed=3),
    prior_schedule=(1.0, 0.0),
    blend=Blend(GenerationParams("a dog", seed=4), 0.5),
)
NUMBER_PLACES = {  # a JSON path to every number a record holds, and the number written there
    "schedule": ("prior_schedule", 0),
    "guidance": ("params", "prior_guidance"),
    "seed": ("params", "seed"),
    "blend weight": ("blend", "weight"),
    "blend guidance": ("blend", "params", "decoder_guidance"),
}
HOSTILE_NUMBERS = ["1e999", "-1e999", "1" + "0" * 400, "-" + "9" * 400, "1" + "0" * 5000, "NaN", "Infinity"]


def with_number(place: tuple, literal: str) -> str:
    data = record_to_dict(BLENDED)
    node = data
    for key in place[:-1]:
        node = node[key]
    node[place[-1]] = "@NUMBER@"
    return json.dumps(data).replace('"@NUMBER@"', literal)


@pytest.mark.parametrize("literal", HOSTILE_NUMBERS)
@pytest.mark.parametrize("place", NUMBER_PLACES.values(), ids=NUMBER_PLACES)
def test_records_never_carry_non_finite_or_huge_numbers(place: tuple, literal: str) -> None:
    with pytest.raises(ImageReadError) as err:
        record_from_json(with_number(place, literal))
    assert "damaged" in err.value.message


@settings(max_examples=200, deadline=None)
@given(
    place=st.sampled_from(sorted(NUMBER_PLACES.values())),
    number=st.floats() | st.integers() | st.integers(-(10**600), 10**600),
)
def test_whatever_a_record_holds_prints_as_strict_json(place: tuple, number: float | int) -> None:
    literal = repr(number) if isinstance(number, int) else json.dumps(number)
    try:
        info = ImageParameters.from_record(record_from_json(with_number(place, literal)))
    except ImageReadError:
        return
    json.dumps(info.to_json_dict(), allow_nan=False)  # what `read` prints: never Infinity or NaN


def test_cli_read_of_an_infinite_number_is_one_line(tmp_path: Path, capsys) -> None:
    info = PngImagePlugin.PngInfo()
    info.add_text("wuerstchen", with_number(("prior_schedule", 0), "1e999"))
    Image.new("RGB", (4, 4)).save(tmp_path / "inf.png", pnginfo=info)
    assert main(["read", str(tmp_path / "inf.png")]) == 1
    out = capsys.readouterr()
    assert "Infinity" not in out.out and len(out.err.strip().splitlines()) == 1 and "damaged" in out.err
