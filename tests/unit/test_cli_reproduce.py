"""``wuerstchen-desktop reproduce IMAGE``: any of our files made again from its record alone."""

from __future__ import annotations

from pathlib import Path

from PIL import Image

from wuerstchen_desktop.cli import main
from wuerstchen_desktop.core.imagefile.read import read_record
from wuerstchen_desktop.core.jobs.job import Job, JobKind
from wuerstchen_desktop.core.jobs.records import image_record
from wuerstchen_desktop.core.jobs.runner import execute
from wuerstchen_desktop.core.params import GenerationParams

SMALL = GenerationParams("a red kite", width=256, height=256, seed=3, prior_steps=3, decoder_steps=2)
CPU = ["--device", "cpu", "--dtype", "float32"]


def reproduce(capsys, path: Path, out: Path) -> tuple[Path, str]:
    assert main(["reproduce", str(path), "--out", str(out), *CPU]) == 0
    captured = capsys.readouterr()
    made = Path(captured.out.strip().splitlines()[-1])
    return made, captured.err


def test_a_blend_is_made_again_from_its_file(pipeline, tmp_path: Path, capsys) -> None:
    out = tmp_path / "out"
    a, b = execute(pipeline, Job(SMALL.replace(images=2), out, kind=JobKind.COMPOSE), None, None)[0]
    (blended,), _ = execute(
        pipeline, Job(None, out, kind=JobKind.BLEND, sources=(a, b), weight=0.6), None, None
    )
    made, err = reproduce(capsys, blended, tmp_path / "again")
    assert read_record(made).blend == read_record(blended).blend
    assert read_record(made).params == read_record(blended).params
    # Compositions composed one by one instead of as a batch of two: a level at most, here and there.
    levels = int(err.split("at most ")[1].split(" of 255")[0])
    assert levels <= 2, err
    assert "cpu, float32" in err


def test_a_composition_is_composed_again(pipeline, tmp_path: Path, capsys) -> None:
    (composition,), _ = execute(pipeline, Job(SMALL, tmp_path / "out", kind=JobKind.COMPOSE), None, None)
    made, err = reproduce(capsys, composition, tmp_path / "again")
    assert read_record(made).kind == "composition"
    # Previews depend on the previewer installed, so a composition is compared by its latent.
    assert "Stage C latent differs" in err and "by at most 0 (" in err  # the same batch of one: identical


def test_a_file_without_our_record_is_a_clear_error(tmp_path: Path, capsys) -> None:
    foreign = tmp_path / "holiday.png"
    Image.new("RGB", (32, 32), "green").save(foreign)
    assert main(["reproduce", str(foreign), *CPU]) == 1
    err = capsys.readouterr().err
    assert err.startswith("Error: ") and "parameters" in err and "Traceback" not in err


def test_a_file_naming_an_unknown_repository_is_not_followed(pipeline, tmp_path: Path, capsys) -> None:
    import dataclasses

    from wuerstchen_desktop.core.imagefile.write import write_image

    record = dataclasses.replace(image_record(pipeline, SMALL, None), prior_model="someone/not-wuerstchen")
    path = write_image(Image.new("RGB", (256, 256)), record, tmp_path)
    assert main(["reproduce", str(path), *CPU]) == 1
    err = capsys.readouterr().err
    assert "someone/not-wuerstchen" in err and "--prior" in err
    assert "neither a published Würstchen checkpoint nor a folder" in err  # refused before any download


def test_a_composition_whose_latent_has_another_shape_is_refused_as_damaged(
    pipeline, tmp_path: Path, capsys
) -> None:
    import dataclasses

    import numpy as np

    from wuerstchen_desktop.core.imagefile.record import encode_latent
    from wuerstchen_desktop.core.imagefile.write import write_image

    (composition,), _ = execute(pipeline, Job(SMALL, tmp_path / "out", kind=JobKind.COMPOSE), None, None)
    record = read_record(composition)
    # 256x256 composes a 6x6 latent; this file stores a 5x7 one.
    damaged = dataclasses.replace(record, latent=encode_latent(np.zeros((1, 16, 5, 7), np.float32)))
    path = write_image(Image.open(composition), damaged, tmp_path / "damaged")
    assert main(["reproduce", str(path), "--out", str(tmp_path / "again"), *CPU]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""  # refused before anything was made
    assert captured.err.count("\n") == 1 and captured.err.startswith("Error: The composition stored in this")
    assert "(1, 16, 5, 7), not the (1, 16, 6, 6)" in captured.err and "the file is damaged" in captured.err


def levels_of(err: str) -> int:
    return int(err.split("at most ")[1].split(" of 255")[0])


def test_reproduce_says_when_and_why_an_image_from_a_batch_is_not_identical(
    pipeline, tmp_path: Path, capsys
) -> None:
    batch = SMALL.replace(seed=11, images=4)
    paths, _ = execute(pipeline, Job(batch, tmp_path / "batch", kind=JobKind.GENERATE), None, None)
    # Image 1 of the batch and the same seed made alone: the alone one comes back identical.
    (alone,), _ = execute(
        pipeline, Job(batch.for_image(1), tmp_path / "alone", kind=JobKind.GENERATE), None, None
    )
    _, err = reproduce(capsys, alone, tmp_path / "again")
    assert levels_of(err) == 0 and "batch" not in err
    found = []
    for path in paths:
        _, err = reproduce(capsys, path, tmp_path / "again")
        found.append(levels_of(err))
        assert ("Made in a batch of several" in err) == (found[-1] > 0), err
    # The README promises at most a level (here, on CPU in float32, each of the four differs by one).
    assert max(found) <= 1
