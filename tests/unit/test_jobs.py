"""The job runner in core/jobs: every kind of job, reproduce included, through one ``execute``; the checks
it makes before any model work; the records it builds. Real tiny checkpoints, real files."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from unittest.mock import ANY

import numpy as np
import pytest
from PIL import Image

from wuerstchen_desktop.core.errors import InvalidParams, WuerstchenError
from wuerstchen_desktop.core.imagefile.read import read_record
from wuerstchen_desktop.core.jobs.job import Job, JobKind
from wuerstchen_desktop.core.jobs.records import image_record, record_latent
from wuerstchen_desktop.core.jobs.runner import Saved, check, execute
from wuerstchen_desktop.core.params import GenerationParams

SMALL = GenerationParams("a lighthouse", width=256, height=256, seed=5, prior_steps=2, decoder_steps=1)
LONG = ", ".join(["a castle on a hill"] * 2000)  # 40,000 characters: beyond one JPEG EXIF segment


def test_a_reproduce_job_makes_an_image_again_and_says_each_file_as_it_is_saved(
    pipeline, tmp_path: Path
) -> None:
    (original,), _ = execute(pipeline, Job(SMALL, tmp_path / "first"))
    heard: list[Saved] = []
    job = Job(None, tmp_path / "again", "png", "{seed}", kind=JobKind.REPRODUCE, sources=(original,))
    (path,), _ = execute(pipeline, job, on_saved=heard.append)
    assert path == tmp_path / "again" / "5.png"  # the job's own format and name pattern
    (saved,) = heard
    assert saved.path == path and read_record(path) == dataclasses.replace(saved.record, created=ANY)
    assert read_record(path).params == read_record(original).params and saved.record.kind == "image"
    with Image.open(original) as a, Image.open(path) as b:  # made alone both times: identical
        assert np.array_equal(np.asarray(a.convert("RGB")), np.asarray(b.convert("RGB")))
    assert np.array_equal(np.asarray(saved.image.convert("RGB")), np.asarray(Image.open(path).convert("RGB")))


def test_a_reproduce_job_composes_a_composition_again_and_saves_it_where_asked(
    pipeline, tmp_path: Path
) -> None:
    (composition,), _ = execute(pipeline, Job(SMALL, tmp_path / "first", kind=JobKind.COMPOSE))
    assert composition.parent.parent.name == "compositions"
    job = Job(None, tmp_path / "again", "png", "{seed}", kind=JobKind.REPRODUCE, sources=(composition,))
    (path,), _ = execute(pipeline, job)
    assert path.parent == tmp_path / "again"  # not under compositions/: saved as the command line asks
    again, before = read_record(path), read_record(composition)
    assert again.kind == "composition" and again.params == before.params
    assert np.array_equal(record_latent(again).numpy(), record_latent(before).numpy())


def test_a_reproduce_job_needs_exactly_one_file_and_kinds_are_not_strings(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="reproduce job needs 1 source"):
        Job(None, tmp_path, kind=JobKind.REPRODUCE)
    with pytest.raises(ValueError, match="unknown job kind"):
        Job(SMALL, tmp_path, kind="generate")  # type: ignore[arg-type]


def test_check_needs_no_pipeline_and_says_what_execute_would(tmp_path: Path) -> None:
    (note,) = check(Job(GenerationParams(LONG), tmp_path, "jpeg"))
    assert note.startswith("The prompts are too long for a JPEG's EXIF text")
    assert check(Job(GenerationParams(LONG), tmp_path, "jpeg", kind=JobKind.COMPOSE)) == []  # always PNG
    with pytest.raises(InvalidParams, match="too long to be saved"):
        check(Job(GenerationParams("🐱" * 400_000), tmp_path))
    (tmp_path / "file").write_text("x")
    with pytest.raises(WuerstchenError, match="is a file, not a folder"):
        check(Job(SMALL, tmp_path / "file"))


def test_the_record_names_the_weights_of_the_pipeline_that_made_it(pipeline) -> None:
    record = image_record(pipeline, SMALL, None, kind="composition")
    sha = pipeline.prior_source.weights_sha256()
    assert (
        record.prior_model == pipeline.prior_source.ref
        and record.decoder_model == pipeline.decoder_source.ref
    )
    assert record.prior_revision == pipeline.prior_source.commit
    assert record.decoder_revision == pipeline.decoder_source.commit
    assert record.model_hash == (sha[:10] if sha else None) and record.kind == "composition"
