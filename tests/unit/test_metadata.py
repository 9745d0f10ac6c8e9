"""The reader: our files give back the exact job; other tools' files what they carry; others a clear no."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image, PngImagePlugin

from wuerstchen_desktop.cli import main
from wuerstchen_desktop.core.errors import NoParametersFound
from wuerstchen_desktop.core.imagefile.a1111 import encode_user_comment
from wuerstchen_desktop.core.imagefile.parameters_text import format_parameters, parse_parameters
from wuerstchen_desktop.core.imagefile.read import read_parameters
from wuerstchen_desktop.core.imagefile.record import ImageRecord, encode_latent
from wuerstchen_desktop.core.imagefile.write import write_image
from wuerstchen_desktop.core.params import MAX_SEED, GenerationParams

A1111 = (
    "masterpiece, a castle\non a hill\nNegative prompt: blurry, lowres\n"
    "Steps: 20, Sampler: DPM++ 2M Karras, CFG scale: 7.5, Seed: 1234, Size: 512x768, "
    'Model hash: abc123, Model: sd15, Lora hashes: "a: 1, b: 2", Version: v1.6.0'
)
sizes = st.sampled_from(range(256, 2049, 128))
params_strategy = st.builds(
    GenerationParams,
    prompt=st.text(max_size=200),
    negative_prompt=st.text(max_size=60),
    width=sizes,
    height=sizes,
    seed=st.integers(0, MAX_SEED - 15),
    images=st.integers(1, 16),
    prior_steps=st.none() | st.integers(1, 200),
    prior_guidance=st.floats(0, 30),
    decoder_steps=st.integers(1, 100),
    decoder_guidance=st.floats(0, 30),
    decoder_seed=st.none() | st.integers(0, MAX_SEED - 15),
)
tricky = st.sampled_from(
    ["", "a\nmulti\nline\nprompt", "Negative prompt: not really", "Steps: 3, Seed: 4, Size: 5x6",
     "日本語 ü ✓ 🐱", "quote \" comma, colon: \\ back", "nul\0inside", "lone \ud800 surrogate",
     "\r\n windows \r\n"]
)  # fmt: skip


def picture() -> Image.Image:
    return Image.fromarray(np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    params=params_strategy,
    prompt=tricky | st.text(max_size=80),
    fmt=st.sampled_from(["png", "jpeg", "webp"]),
    with_latent=st.booleans(),
)
def test_our_files_round_trip_exactly(
    tmp_path: Path, params, prompt: str, fmt: str, with_latent: bool
) -> None:
    params = params.replace(prompt=params.prompt + prompt, negative_prompt=prompt)
    latent = encode_latent(np.arange(16 * 4 * 3, dtype=np.float32).reshape(16, 4, 3)) if with_latent else None
    record = ImageRecord(
        params, prior_revision="r1", model_hash="ff" * 32, prior_schedule=(1.0, 0.1), latent=latent
    )
    path = write_image(picture(), record, tmp_path, fmt)
    got = read_parameters(path)
    assert got.source == "wuerstchen" and got.record is not None
    assert got.record.params == params
    assert got.record.latent == latent
    assert got.record.prior_revision == "r1" and got.record.prior_schedule == (1.0, 0.1)
    assert got.prompt == params.prompt and got.seed == params.seed


@settings(max_examples=60, deadline=None)
@given(params=params_strategy, prompt=tricky)
def test_our_a1111_text_reads_back(params, prompt: str) -> None:
    # Lossy by design (A1111 text cannot hold everything), but seed, size, steps and guidance survive.
    text = format_parameters(ImageRecord(params.replace(prompt=prompt)))
    got = parse_parameters(text)
    assert (got.seed, got.width, got.height) == (params.seed, params.width, params.height)
    assert got.steps == (29 if params.prior_steps is None else params.prior_steps)
    assert got.guidance == params.prior_guidance
    assert text.split("\n")[-1].startswith("Steps: ")


def test_a1111_png_from_another_tool(tmp_path: Path) -> None:
    info = PngImagePlugin.PngInfo()
    info.add_text("parameters", A1111)
    picture().save(tmp_path / "a.png", pnginfo=info)
    got = read_parameters(tmp_path / "a.png")
    assert got.source == "a1111" and got.record is None
    assert got.prompt == "masterpiece, a castle\non a hill" and got.negative_prompt == "blurry, lowres"
    assert (got.seed, got.steps, got.guidance, got.width, got.height) == (1234, 20, 7.5, 512, 768)


@pytest.mark.parametrize("fmt", ["JPEG", "WEBP"])
@pytest.mark.parametrize("encoding", ["utf-16-be", "utf-16-le", "ascii"])
def test_exif_user_comment_from_another_tool(tmp_path: Path, fmt: str, encoding: str) -> None:
    text = A1111.replace("masterpiece", "ascii only")
    if encoding == "ascii":
        comment = b"ASCII\0\0\0" + text.encode()
    else:
        comment = b"UNICODE\0" + text.encode(encoding)
    exif = Image.Exif()
    exif.get_ifd(0x8769)[0x9286] = comment
    path = tmp_path / f"a.{fmt.lower()}"
    picture().save(path, format=fmt, exif=exif.tobytes())
    got = read_parameters(path)
    assert got.prompt.startswith("ascii only, a castle") and got.seed == 1234 and got.width == 512


def test_user_comment_encoding() -> None:
    assert encode_user_comment("ab") == b"UNICODE\0\0a\0b"


@pytest.mark.parametrize(
    "chunks",
    [
        {},
        {"prompt": '{"3": {"class_type": "KSampler"}}'},
        {"Comment": '{"prompt": "x"}'},
        {"parameters": "hello"},
    ],
)
def test_no_parameters_found(tmp_path: Path, chunks: dict[str, str]) -> None:
    info = PngImagePlugin.PngInfo()
    for key, value in chunks.items():
        info.add_text(key, value)
    picture().save(tmp_path / "x.png", pnginfo=info)
    with pytest.raises(NoParametersFound) as err:
        read_parameters(tmp_path / "x.png")
    assert "No generation parameters found in x.png" in str(err.value)


def test_other_file_types_have_no_parameters(tmp_path: Path) -> None:
    picture().save(tmp_path / "x.gif")
    with pytest.raises(NoParametersFound):
        read_parameters(tmp_path / "x.gif")


def test_cli_read(tmp_path: Path, capsys) -> None:
    record = ImageRecord(GenerationParams("a cat ✓", seed=5), latent=encode_latent(np.zeros((16, 2, 2))))
    path = write_image(picture(), record, tmp_path, "webp")
    assert main(["read", str(path)]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["source"] == "wuerstchen" and data["prompt"] == "a cat ✓" and data["seed"] == 5
    assert data["wuerstchen"]["params"] == record.params.to_dict()
    assert data["wuerstchen"]["has_stage_c_latent"] is True and "stage_c" not in data["wuerstchen"]


def test_cli_read_foreign_and_missing(tmp_path: Path, capsys) -> None:
    info = PngImagePlugin.PngInfo()
    info.add_text("parameters", A1111)
    picture().save(tmp_path / "a.png", pnginfo=info)
    assert main(["read", str(tmp_path / "a.png")]) == 0
    assert json.loads(capsys.readouterr().out)["seed"] == 1234
    picture().save(tmp_path / "plain.png")
    assert main(["read", str(tmp_path / "plain.png")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("Error: No generation parameters found") and "Traceback" not in err
    assert main(["read", str(tmp_path / "nowhere.png")]) == 1
    assert "nowhere.png" in capsys.readouterr().err
