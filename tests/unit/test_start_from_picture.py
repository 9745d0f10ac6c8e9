"""Starting from a picture: the strength and the picture's sha256 in the parameters and the files, the
command line's --init-image and --strength, and reproducing such an image from its source."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.helpers.cli import generate, run_user_error
from wuerstchen_desktop.cli import main
from wuerstchen_desktop.core.errors import InvalidParams
from wuerstchen_desktop.core.imagefile.parameters_text import format_parameters, parse_parameters
from wuerstchen_desktop.core.imagefile.read import read_record
from wuerstchen_desktop.core.imagefile.reuse import carry_over
from wuerstchen_desktop.core.params import GenerationParams

SHA = "ab" * 32


def one_png(folder: Path) -> Path:
    (found,) = sorted(folder.rglob("*.png"))
    return found


def test_text_to_image_records_are_unchanged_by_the_new_fields() -> None:
    data = GenerationParams("a cat").to_dict()
    assert "strength" not in data and "source" not in data
    assert GenerationParams.from_dict(data) == GenerationParams("a cat")


def test_a_picture_job_round_trips_through_its_record() -> None:
    p = GenerationParams("a cat", strength=0.4, source=SHA)
    assert GenerationParams.from_dict(json.loads(json.dumps(p.to_dict()))) == p


@pytest.mark.parametrize(
    ("changes", "said"),
    [
        ({"strength": 0.5}, "goes with the picture"),
        ({"source": SHA}, "goes with the picture"),
        ({"strength": 0.0, "source": SHA}, "would change nothing"),
        ({"strength": 1.5, "source": SHA}, "strength"),
        ({"strength": 0.5, "source": "../../etc/passwd"}, "64 hexadecimal"),
    ],
)
def test_bad_picture_fields_are_refused(changes: dict, said: str) -> None:
    with pytest.raises(InvalidParams, match=said):
        GenerationParams("a cat", **changes)


def test_the_a1111_text_says_the_denoising_strength() -> None:
    from wuerstchen_desktop.core.imagefile.record import ImageRecord

    text = format_parameters(ImageRecord(GenerationParams("a cat", strength=0.35, source=SHA)))
    assert "Denoising strength: 0.35" in text
    assert parse_parameters(text).prompt == "a cat"
    assert "Denoising strength" not in format_parameters(ImageRecord(GenerationParams("a cat")))


def test_generate_from_a_picture_and_reproduce_it_from_the_same_picture(
    prior_dir: Path, decoder_dir: Path, tmp_path: Path, capsys
) -> None:
    assert main(generate(prior_dir, decoder_dir, tmp_path / "first")) == 0
    picture = one_png(tmp_path / "first")
    sha = hashlib.sha256(picture.read_bytes()).hexdigest()
    argv = generate(prior_dir, decoder_dir, tmp_path / "second", "--init-image", str(picture), "--seed", "9")
    assert main([*argv, "--strength", "0.4"]) == 0
    made = one_png(tmp_path / "second")
    record = read_record(made)
    assert (record.params.strength, record.params.source) == (0.4, sha)
    assert (record.params.source_width, record.params.source_height) == (256, 256)
    with Image.open(made) as im:  # the A1111 text as any PNG reader sees it
        assert "Denoising strength: 0.4" in im.info["parameters"]
    plain = generate(prior_dir, decoder_dir, tmp_path / "plain", "--seed", "9")
    assert main(plain) == 0
    before = np.asarray(Image.open(made), dtype=np.int16)
    assert np.abs(before - np.asarray(Image.open(one_png(tmp_path / "plain")), dtype=np.int16)).max() > 2
    capsys.readouterr()

    again = ["reproduce", str(made), "--out", str(tmp_path / "again"), "--source", str(picture)]
    assert main([*again, "--prior", str(prior_dir), "--decoder", str(decoder_dir)]) == 0
    assert "by at most 0 of 255 levels" in capsys.readouterr().err

    without = ["reproduce", str(made), "--out", str(tmp_path / "x"), "--prior", str(prior_dir)]
    said = run_user_error(capsys, [*without, "--decoder", str(decoder_dir)])
    assert "starts from a picture, and none was given" in said
    other = one_png(tmp_path / "plain")
    said = run_user_error(capsys, [*without, "--decoder", str(decoder_dir), "--source", str(other)])
    assert "is not the picture this image was made from" in said


def test_a_picture_made_elsewhere_or_at_another_size_is_refused_clearly(
    prior_dir: Path, decoder_dir: Path, tmp_path: Path, capsys
) -> None:
    foreign = tmp_path / "photo.png"
    Image.new("RGB", (256, 256), (200, 30, 30)).save(foreign)
    said = run_user_error(
        capsys, generate(prior_dir, decoder_dir, tmp_path / "o", "--init-image", str(foreign))
    )
    assert "photo.png was not made here" in said and "image encoder" in said
    assert not list((tmp_path / "o").rglob("*.png"))

    assert main(generate(prior_dir, decoder_dir, tmp_path / "first")) == 0
    picture = one_png(tmp_path / "first")
    capsys.readouterr()
    argv = generate(prior_dir, decoder_dir, tmp_path / "o", "--init-image", str(picture), "--width", "384")
    said = run_user_error(capsys, argv)
    assert "was composed at 256x256, not at this job's 384x256" in said

    said = run_user_error(capsys, generate(prior_dir, decoder_dir, tmp_path / "o", "--strength", "0.5"))
    assert "strength goes with a picture" in said


def test_using_the_parameters_of_a_picture_job_starts_from_text_and_says_so() -> None:
    from wuerstchen_desktop.core.imagefile.record import ImageParameters, ImageRecord

    made = GenerationParams("a cat", seed=4, strength=0.3, source=SHA)
    found = ImageParameters.from_record(ImageRecord(made))
    params, notes = carry_over(found, GenerationParams("x"))
    assert params == made.replace(strength=1.0, source=None)
    assert len(notes) == 1 and "not carried over" in notes[0]


def test_a_picture_from_elsewhere_goes_through_the_image_encoder(
    prior_dir: Path, decoder_dir: Path, tmp_path: Path, capsys, encoder_weights: Path
) -> None:
    photo = tmp_path / "photo.jpg"
    pixels = np.zeros((200, 300, 3), dtype=np.uint8)
    pixels[:, :150] = (220, 40, 30)
    Image.fromarray(pixels).save(photo, quality=95)
    argv = generate(prior_dir, decoder_dir, tmp_path / "o", "--init-image", str(photo), "--strength", "0.6")
    assert main(argv) == 0
    err = capsys.readouterr().err
    assert "Note: " in err and "300x200" in err  # fitted to the job's 256x256, and said
    made = one_png(tmp_path / "o")
    record = read_record(made)
    assert record.params.source == hashlib.sha256(photo.read_bytes()).hexdigest()
    assert (record.params.source_width, record.params.source_height) == (300, 200)  # the file's, not the fit
    with Image.open(made) as im:
        assert "Source size: 300x200" in im.info["parameters"]
    plain = np.asarray(Image.open(made), dtype=np.int16)

    other = tmp_path / "other.jpg"
    Image.fromarray(pixels[:, ::-1].copy()).save(other, quality=95)
    argv = generate(prior_dir, decoder_dir, tmp_path / "p", "--init-image", str(other), "--strength", "0.6")
    assert main(argv) == 0  # another picture, the same seed: another image
    assert np.abs(np.asarray(Image.open(one_png(tmp_path / "p")), dtype=np.int16) - plain).max() > 0
    capsys.readouterr()

    again = ["reproduce", str(made), "--out", str(tmp_path / "again"), "--source", str(photo)]
    assert main([*again, "--prior", str(prior_dir), "--decoder", str(decoder_dir)]) == 0
    assert "by at most 0 of 255 levels" in capsys.readouterr().err

    encoder_weights.unlink()
    said = run_user_error(capsys, argv)
    assert "needs the image encoder, which is not on this computer" in said


def test_a_picture_made_here_at_another_size_goes_through_the_image_encoder(
    prior_dir: Path, decoder_dir: Path, tmp_path: Path, capsys, encoder_weights: Path
) -> None:
    assert main(generate(prior_dir, decoder_dir, tmp_path / "first")) == 0
    picture = one_png(tmp_path / "first")  # 256x256, with its composition
    capsys.readouterr()
    argv = generate(prior_dir, decoder_dir, tmp_path / "o", "--init-image", str(picture), "--width", "384")
    assert main(argv) == 0
    assert "384x256" in capsys.readouterr().err  # its pixels fitted to the job's size, and said
    record = read_record(one_png(tmp_path / "o"))
    sha = hashlib.sha256(picture.read_bytes()).hexdigest()
    assert (record.params.width, record.params.source) == (384, sha)
