"""The writer: what each format carries, atomic never-overwriting files, names, export, a full disk."""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from wuerstchen_desktop.cli import main
from wuerstchen_desktop.core import atomicfile
from wuerstchen_desktop.core.errors import InvalidParams, SaveError
from wuerstchen_desktop.core.imagefile.a1111 import decode_user_comment
from wuerstchen_desktop.core.imagefile.read import read_parameters
from wuerstchen_desktop.core.imagefile.record import ImageRecord, decode_latent, encode_latent
from wuerstchen_desktop.core.imagefile.write import export_clean, make_record, write_image
from wuerstchen_desktop.core.library.naming import DEFAULT_PATTERN, file_stem
from wuerstchen_desktop.core.params import GenerationParams

WHEN = 1_700_000_000.0


def picture(seed: int = 0, size: int = 64) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8))


def record(prompt: str = "a cat", **changes: object) -> ImageRecord:
    return ImageRecord(GenerationParams(prompt, **changes), prior_schedule=(1.0, 0.5, 0.0))  # type: ignore[arg-type]


def a1111_text(path: Path) -> str:
    with Image.open(path) as im:
        if im.format == "PNG":
            return im.info["parameters"]
        return decode_user_comment(im.getexif().get_ifd(0x8769)[0x9286])


def test_png_chunks_are_parameters_and_wuerstchen_only(tmp_path: Path) -> None:
    path = write_image(picture(), record(), tmp_path, "png", when=WHEN)
    with Image.open(path) as im:
        keys = set(im.info) - {"dpi"}
    assert keys == {"parameters", "wuerstchen"}
    assert not {"prompt", "workflow", "Comment"} & keys


@pytest.mark.parametrize("fmt", ["png", "jpeg", "webp"])
def test_a1111_text_shape(tmp_path: Path, fmt: str) -> None:
    rec = ImageRecord(
        GenerationParams("a cat\nin a hat", seed=7, width=512, height=768, prior_guidance=4.25),
        model_hash="0123456789abcdef",
    )
    text = a1111_text(write_image(picture(), rec, tmp_path, fmt, when=WHEN))
    lines = text.split("\n")
    assert lines[:3] == ["a cat", "in a hat", "Negative prompt: "]
    assert lines[-1].startswith("Steps: 29, Sampler: ")
    for part in ("CFG scale: 4.25", "Seed: 7", "Size: 512x768", "Model hash: 0123456789", "Model: "):
        assert part in lines[-1]
    assert "Decoder steps: 12" in lines[-1] and "Decoder CFG scale: 0.0" in lines[-1]
    assert lines[-1].index("Model hash") < lines[-1].index("Model: ") < lines[-1].index("Decoder steps")


def test_uniform_schedule_steps_and_quoted_values(tmp_path: Path) -> None:
    rec = ImageRecord(GenerationParams("x", prior_steps=12), prior_model="C:\\models\\my, prior")
    last = a1111_text(write_image(picture(), rec, tmp_path, when=WHEN)).split("\n")[-1]
    assert last.startswith("Steps: 12,")
    assert 'Model: "my, prior"' in last
    assert "Model hash" not in last  # optional: written only when known


def test_exif_user_comment_is_unicode_utf16be(tmp_path: Path) -> None:
    path = write_image(picture(), record("ünï 日本"), tmp_path, "jpeg", when=WHEN)
    with Image.open(path) as im:
        raw = im.getexif().get_ifd(0x8769)[0x9286]
    assert raw.startswith(b"UNICODE\0")
    assert raw[8:].decode("utf-16-be").startswith("ünï 日本\nNegative prompt: ")


def test_make_record_keeps_schedule_and_latent(tmp_path: Path) -> None:
    import torch

    latent = torch.randn(16, 6, 6)
    rec = make_record(GenerationParams("x"), latent, prior_model="me/prior", prior_revision="abc")
    assert len(rec.prior_schedule) == 30 and rec.prior_schedule[0] == 1.0 and rec.prior_schedule[-1] == 0.0
    path = write_image(picture(), rec, tmp_path, "jpeg", when=WHEN)
    back = read_parameters(path).record
    assert back is not None and back.prior_revision == "abc" and back.prior_schedule == rec.prior_schedule
    assert back.latent is not None
    stored = decode_latent(back.latent)
    assert stored.shape == (1, 16, 6, 6)
    assert np.allclose(stored[0], latent.numpy(), atol=2e-3)


def test_big_latent_fits_a_jpeg(tmp_path: Path) -> None:
    # 2048x2048 needs a 48x48 latent: more than one 64 KiB JPEG segment.
    latent = encode_latent(np.random.default_rng(1).normal(size=(16, 48, 48)))
    rec = ImageRecord(GenerationParams("x", width=2048, height=2048), latent=latent)
    got = read_parameters(write_image(picture(), rec, tmp_path, "jpeg", when=WHEN)).record
    assert got is not None and got.latent == latent and got.params == rec.params


def test_never_overwrites_and_leaves_no_temporary_files(tmp_path: Path) -> None:
    paths = [write_image(picture(i), record(), tmp_path, when=WHEN) for i in range(3)]
    assert len(set(paths)) == 3
    assert [p.name.rsplit(".", 1)[0][-2:] for p in paths[1:]] == ["-2", "-3"]
    first = paths[0].read_bytes()
    write_image(picture(9), record(), tmp_path, when=WHEN)
    assert paths[0].read_bytes() == first
    assert [p for p in tmp_path.rglob(".tmp*")] == []


def test_default_pattern_makes_a_date_folder() -> None:
    stem = file_stem(DEFAULT_PATTERN, GenerationParams("A cat, in: the hat!", seed=5), WHEN)
    folder, name = stem.split("/")
    assert len(folder) == 10 and folder[4] == folder[7] == "-"
    assert name.endswith("-5-a-cat-in-the-hat") and len(name.split("-")[0]) == 6


@pytest.mark.parametrize("pattern", ["{nope}", "../{seed}", "/abs/{seed}", "{seed}/../x", "{seed"])
def test_bad_patterns_are_refused(pattern: str) -> None:
    with pytest.raises(InvalidParams):
        file_stem(pattern, GenerationParams("x"), WHEN)


def test_pattern_cannot_make_hidden_files(tmp_path: Path) -> None:
    path = write_image(picture(), record(".hidden"), tmp_path, pattern="{slug}", when=WHEN)
    assert not path.name.startswith(".")


@pytest.mark.parametrize("fmt", ["png", "jpeg", "webp"])
def test_export_strips_everything(tmp_path: Path, fmt: str) -> None:
    src = write_image(picture(), record("secret prompt"), tmp_path, fmt, when=WHEN)
    shared = export_clean(src, tmp_path / "shared")
    data = shared.read_bytes()
    assert b"secret" not in data and b"wuerstchen" not in data.lower() and b"Exif" not in data
    with Image.open(shared) as im:
        assert im.size == (64, 64) and "exif" not in im.info and "parameters" not in im.info


def test_full_disk_simulated_enospc_keeps_earlier_images(tmp_path: Path, monkeypatch) -> None:
    earlier = write_image(picture(), record(), tmp_path, when=WHEN)
    before = earlier.read_bytes()

    def full(fd: int, data: object) -> int:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(atomicfile.os, "write", full)
    with pytest.raises(SaveError) as info:
        write_image(picture(1), record(), tmp_path, when=WHEN)
    monkeypatch.undo()
    assert "disk is full" in info.value.message and "Free some disk space" in info.value.hint
    assert earlier.read_bytes() == before
    assert sorted(p.name for p in earlier.parent.iterdir()) == [earlier.name]


def test_cli_generate_embeds_the_exact_job(prior_dir, decoder_dir, tmp_path, capsys) -> None:
    argv = [
        "generate",
        "a cat",
        "--prior",
        str(prior_dir),
        "--decoder",
        str(decoder_dir),
        "--out",
        str(tmp_path),
    ]
    argv += ["--width", "256", "--height", "256", "--prior-steps", "2", "--decoder-steps", "1", "--seed", "3"]
    assert main([*argv, "--images", "2", "--prior-guidance", "1.5"]) == 0
    paths = capsys.readouterr().out.split()
    second = read_parameters(Path(paths[1])).record
    assert second is not None
    assert second.params == GenerationParams(
        "a cat", width=256, height=256, seed=4, prior_steps=2, prior_guidance=1.5, decoder_steps=1
    )
    assert second.prior_model == str(prior_dir) and second.latent is not None
    assert main(["read", paths[1]]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["seed"] == 4 and shown["wuerstchen"]["params"]["prior_steps"] == 2
    assert shown["wuerstchen"]["has_stage_c_latent"] is True
