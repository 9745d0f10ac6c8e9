"""Upscale 2x: Stage B at twice the composition's size from the picture's VQGAN latent noised to a strength,
through the command line and the job runner on tiny checkpoints, and its record."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from tests.helpers.cli import generate, run_user_error
from wuerstchen_desktop.cli import main
from wuerstchen_desktop.core.engine.compose import decode
from wuerstchen_desktop.core.engine.progress import StepEvent
from wuerstchen_desktop.core.imagefile.read import read_record
from wuerstchen_desktop.core.jobs.job import Job, JobKind
from wuerstchen_desktop.core.jobs.records import record_latent
from wuerstchen_desktop.core.jobs.runner import execute
from wuerstchen_desktop.core.params import GenerationParams


def one_png(folder: Path) -> Path:
    (found,) = sorted(folder.rglob("*.png"))
    return found


def pixels(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"), dtype=np.int16)


def upscale(prior: Path, decoder: Path, image: Path, out: Path, *extra: str) -> list[str]:
    models = ["--prior", str(prior), "--decoder", str(decoder)]
    return ["upscale", str(image), "--out", str(out), *models, *extra]


@pytest.fixture
def made(prior_dir: Path, decoder_dir: Path, tmp_path: Path) -> Path:
    """A 256x256 image made here (it carries its composition), with 2 decoder steps."""
    argv = generate(prior_dir, decoder_dir, tmp_path / "first", "--decoder-steps", "4")
    assert main(argv) == 0
    return one_png(tmp_path / "first")


def test_upscale_doubles_the_image_records_it_and_reproduces_it(
    prior_dir: Path, decoder_dir: Path, made: Path, tmp_path: Path, capsys
) -> None:
    argv = upscale(prior_dir, decoder_dir, made, tmp_path / "up", "--strength", "0.5", "--seed", "11")
    assert main(argv) == 0
    big = one_png(tmp_path / "up")
    assert capsys.readouterr().out.strip() == str(big)
    with Image.open(big) as im:
        assert im.size == (512, 512)
        text = im.info["parameters"]
    source = read_record(made)
    record = read_record(big)
    p = record.params
    sha = hashlib.sha256(made.read_bytes()).hexdigest()
    assert (p.width, p.height, p.upscale, p.strength, p.decoder_seed) == (512, 512, 2, 0.5, 11)
    assert (p.source, p.source_width, p.source_height) == (sha, 256, 256)
    assert (p.prompt, p.seed, p.decoder_steps) == (source.params.prompt, source.params.seed, 4)
    assert torch.equal(record_latent(record), record_latent(source))  # the composition it was drawn from
    for said in ("Size: 256x256", "Hires upscale: 2", "Denoising strength: 0.5", f"Source sha256: {sha}"):
        assert said in text
    assert "Source size: 256x256" in text

    # The picture shows through: closer to the picture enlarged than an upscale from noise alone.
    enlarged = np.asarray(Image.open(made).convert("RGB").resize((512, 512), Image.Resampling.LANCZOS))
    argv = upscale(prior_dir, decoder_dir, made, tmp_path / "noise", "--strength", "1", "--seed", "11")
    assert main(argv) == 0
    from_noise = pixels(one_png(tmp_path / "noise"))
    assert np.abs(pixels(big) - enlarged).mean() < np.abs(from_noise - enlarged).mean()
    capsys.readouterr()

    again = ["reproduce", str(big), "--out", str(tmp_path / "again"), "--source", str(made)]
    assert main([*again, "--prior", str(prior_dir), "--decoder", str(decoder_dir)]) == 0
    assert "by at most 0 of 255 levels" in capsys.readouterr().err
    said = run_user_error(capsys, [*again[:-1], str(one_png(tmp_path / "noise")), "--prior", str(prior_dir)])
    assert "is not the picture this image was made from" in said


def test_strength_one_is_the_composition_decoded_at_twice_the_size_from_noise(
    pipeline, made: Path, tmp_path: Path
) -> None:
    job = Job(
        None,
        tmp_path / "up",
        kind=JobKind.UPSCALE,
        start=made,
        changes=(("strength", 1.0), ("decoder_seed", 5)),
    )
    (path,), _ = execute(pipeline, job)
    record = read_record(path)
    # The same composition decoded at 512x512 by the plain decode path, from the same seed's noise.
    plain = record.params.replace(upscale=1, strength=1.0, source=None, source_width=None, source_height=None)
    direct = decode(pipeline, record_latent(read_record(made)), [plain])
    assert np.array_equal(pixels(path), np.asarray(direct.images[0], dtype=np.int16))


def test_a_lower_strength_runs_fewer_decoder_steps(pipeline, made: Path, tmp_path: Path) -> None:
    events: list[StepEvent] = []
    changes = (("strength", 0.5), ("decoder_seed", 5))
    execute(pipeline, Job(None, tmp_path, kind=JobKind.UPSCALE, start=made, changes=changes), events.append)
    decoder = [e for e in events if e.stage == "decoder"]
    assert len(decoder) == 2 and decoder[0].total == 2  # 4 uniform steps; from t = 0.5: 0.5, 0.25


def test_too_large_a_picture_is_refused_naming_the_largest(
    prior_dir: Path, decoder_dir: Path, tmp_path: Path, capsys, encoder_weights: Path
) -> None:
    wide = tmp_path / "wide.png"
    Image.new("RGB", (1280, 720), (10, 200, 30)).save(wide)
    said = run_user_error(capsys, upscale(prior_dir, decoder_dir, wide, tmp_path / "o"))
    assert "wide.png is 1280x720" in said and "largest picture it takes is 1024x1024" in said
    assert not (tmp_path / "o").exists() or not list((tmp_path / "o").iterdir())


def test_a_picture_from_elsewhere_needs_the_encoder_and_is_upscaled_with_it(
    prior_dir: Path, decoder_dir: Path, tmp_path: Path, capsys, encoder_weights: Path
) -> None:
    photo = tmp_path / "photo.jpg"
    art = np.zeros((200, 300, 3), dtype=np.uint8)
    art[:, :150] = (220, 40, 30)
    Image.fromarray(art).save(photo, quality=95)
    argv = upscale(prior_dir, decoder_dir, photo, tmp_path / "up", "--seed", "2", "--prompt", "red")
    assert main([*argv, "--strength", "0.5"]) == 0
    assert "300x200" in capsys.readouterr().err  # fitted to the nearest valid size, and said
    big = one_png(tmp_path / "up")
    p = read_record(big).params
    assert (p.width, p.height, p.source_width, p.source_height, p.prompt) == (768, 512, 300, 200, "red")
    assert Image.open(big).size == (768, 512)

    again = ["reproduce", str(big), "--out", str(tmp_path / "again"), "--source", str(photo)]
    assert main([*again, "--prior", str(prior_dir), "--decoder", str(decoder_dir)]) == 0
    assert "by at most 0 of 255 levels" in capsys.readouterr().err

    encoder_weights.unlink()
    said = run_user_error(capsys, argv)
    assert "needs the image encoder, which is not on this computer" in said


def test_new_jobs_from_an_upscaled_image_start_from_its_composition(
    pipeline, made: Path, tmp_path: Path
) -> None:
    from wuerstchen_desktop.core.imagefile.record import ImageParameters
    from wuerstchen_desktop.core.imagefile.reuse import carry_over

    changes = (("strength", 0.5), ("decoder_seed", 5))
    (big,), _ = execute(
        pipeline, Job(None, tmp_path / "up", kind=JobKind.UPSCALE, start=made, changes=changes)
    )
    params, notes = carry_over(ImageParameters.from_record(read_record(big)), GenerationParams("x"))
    assert params == read_record(made).params and len(notes) == 1 and "not carried over" in notes[0]

    vary = Job(None, tmp_path / "vary", kind=JobKind.DECODE, sources=(big,), changes=(("decoder_seed", 8),))
    (again,), _ = execute(pipeline, vary)  # "vary detail": its composition decoded anew at its own size
    p = read_record(again).params
    assert Image.open(again).size == (256, 256) and (p.upscale, p.source, p.decoder_seed) == (1, None, 8)


def test_an_upscaled_image_or_a_composition_is_not_upscaled_again(
    pipeline, prior_dir: Path, decoder_dir: Path, made: Path, tmp_path: Path, capsys
) -> None:
    changes = (("strength", 0.5),)
    (big,), _ = execute(
        pipeline, Job(None, tmp_path / "up", kind=JobKind.UPSCALE, start=made, changes=changes)
    )
    said = run_user_error(capsys, upscale(prior_dir, decoder_dir, big, tmp_path / "o"))
    assert "is already upscaled" in said
    compose = Job(
        GenerationParams("a cat", width=256, height=256, prior_steps=2), tmp_path / "c", kind=JobKind.COMPOSE
    )
    (composition,), _ = execute(pipeline, compose)
    said = run_user_error(capsys, upscale(prior_dir, decoder_dir, composition, tmp_path / "o"))
    assert "is a composition, not decoded yet" in said


@pytest.mark.parametrize(
    ("changes", "said"),
    [
        ({"upscale": 3, "source": "ab" * 32}, "upscale factor must be 1 or 2"),
        ({"upscale": 2}, "needs the picture it upscales"),
        ({"upscale": 2, "source": "ab" * 32, "width": 384}, "width 384 is not twice a size"),
        ({"source_width": 300, "source_height": 200}, "goes with its sha256"),
        (
            {"strength": 0.5, "source": "ab" * 32, "source_width": 0, "source_height": 5},
            "source picture's width",
        ),
    ],
)
def test_bad_upscale_fields_are_refused(changes: dict, said: str) -> None:
    from wuerstchen_desktop.core.errors import InvalidParams

    with pytest.raises(InvalidParams, match=said):
        GenerationParams("a cat", **{"width": 512, "height": 512, **changes})


def test_an_upscale_record_round_trips_and_text_to_image_records_keep_their_keys() -> None:
    import json

    p = GenerationParams(
        "a", width=512, height=512, upscale=2, source="ab" * 32, source_width=9, source_height=7
    )
    assert GenerationParams.from_dict(json.loads(json.dumps(p.to_dict()))) == p
    assert set(GenerationParams("a").to_dict()).isdisjoint({"upscale", "source_width", "source_height"})


def test_one_of_ours_too_large_to_double_is_refused_before_any_work() -> None:
    from wuerstchen_desktop.core.errors import InvalidParams
    from wuerstchen_desktop.core.imagefile.record import ImageRecord, encode_latent
    from wuerstchen_desktop.core.jobs.start import Picture
    from wuerstchen_desktop.core.jobs.upscale import upscale_params

    made = GenerationParams("a cat", width=1152, height=768)
    record = ImageRecord(made, latent=encode_latent(np.zeros((1, 16, 18, 27), dtype=np.float32)))
    with pytest.raises(
        InvalidParams, match=r"big\.png is 1152x768; Upscale 2x makes at most 2048x2048"
    ) as info:
        upscale_params(Picture(Path("big.png"), "ab" * 32, record), {})
    assert "1024 pixels a side" in str(info.value)
