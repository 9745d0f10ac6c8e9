"""Our A1111 text for pictures made from pictures, read by sd-parsers (an A1111 reader we did not write):
image-to-image says its denoising strength, an upscale also the factor as A1111 writes hires results
(``Size`` the first pass, ``Hires upscale`` the factor), and both the source picture's sha256 and size."""

from __future__ import annotations

from pathlib import Path

from PIL import Image
from sd_parsers import ParserManager

from wuerstchen_desktop.core.imagefile.write import make_record, write_image
from wuerstchen_desktop.core.params import GenerationParams

SHA = "0123456789abcdef" * 4


def parsed(params: GenerationParams, folder: Path):
    path = write_image(Image.new("RGB", (64, 64)), make_record(params), folder, "png", "{seed}")
    info = ParserManager().parse(path)
    assert info is not None and info.generator.name == "AUTOMATIC1111"
    (sampler,) = info.samplers
    return sampler, info.metadata


def test_an_upscale_reads_as_a_hires_result_with_its_source(tmp_path: Path) -> None:
    p = GenerationParams(
        "a cat, sitting",
        width=768,
        height=512,
        seed=7,
        decoder_seed=9,
        upscale=2,
        strength=0.4,
        source=SHA,
        source_width=300,
        source_height=200,
    )
    sampler, meta = parsed(p, tmp_path)
    assert sampler.prompts[0].value == "a cat, sitting"
    assert sampler.parameters["seed"] == "7"
    assert meta["Size"] == "384x256"  # A1111's first pass; times the factor gives the file's 768x512
    assert (meta["Hires upscale"], meta["Denoising strength"]) == ("2", "0.4")
    assert (meta["Source sha256"], meta["Source size"]) == (SHA, "300x200")


def test_image_to_image_reads_with_its_strength_and_source(tmp_path: Path) -> None:
    p = GenerationParams(
        "a cat", width=256, height=256, strength=0.65, source=SHA, source_width=1000, source_height=750
    )
    _, meta = parsed(p, tmp_path)
    assert (meta["Size"], meta["Denoising strength"], meta["Source size"]) == ("256x256", "0.65", "1000x750")
    assert meta["Source sha256"] == SHA and "Hires upscale" not in meta


def test_text_to_image_carries_none_of_them(tmp_path: Path) -> None:
    _, meta = parsed(GenerationParams("a cat", width=256, height=256), tmp_path)
    assert meta["Size"] == "256x256"
    assert not {"Denoising strength", "Hires upscale", "Source sha256", "Source size"} & set(meta)
