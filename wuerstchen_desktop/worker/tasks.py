"""What each kind of job does with the pipeline, and the files it writes. No Qt here: the generation
worker calls ``execute`` on its thread; tests call it directly too.

Jobs with source files read their parameters (and stored compositions) from those files on this
thread, so the window never waits for a read and every job is made from what the files say. Before any
model work, the output folder is proven writable and each job's parameters are checked against what its
files can carry (``check_fits``): a record too long to read back fails the job at once; a note (a JPEG's
shortened text) and any metadata a save had to leave out come first among the job's warnings, before the
prompt's, which can be long.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Any

from wuerstchen_desktop.core.errors import InvalidParams, SaveError
from wuerstchen_desktop.core.imagefile.imagefile import check_fits, read_record, write_image
from wuerstchen_desktop.core.imagefile.metadata import Blend, ImageRecord
from wuerstchen_desktop.core.library.outputdir import check_output_dir
from wuerstchen_desktop.core.params import GenerationParams
from wuerstchen_desktop.worker.jobs import BLEND, COMPOSE, COMPOSITIONS_FOLDER, DECODE, GENERATE, Job

if TYPE_CHECKING:
    from wuerstchen_desktop.core.engine.pipeline import Pipeline
    from wuerstchen_desktop.core.engine.results import CancelCheck, StepCallback


def _params(job: Job, record: ImageRecord | None) -> GenerationParams:
    base = record.params.replace(images=1) if record is not None else job.params
    if base is None:
        raise InvalidParams("This job has no parameters.")
    return base.replace(**dict(job.changes)) if job.changes else base


def execute(
    pipe: Pipeline, job: Job, on_step: StepCallback | None, cancel: CancelCheck | None
) -> tuple[tuple[Path, ...], list[str]]:
    """Run ``job`` and write its files; returns their paths and the warnings to show."""
    from wuerstchen_desktop.core.engine import compose as c

    check_output_dir(job.out_dir)  # a folder unplugged or replaced since start: said now, not after the work
    records = [read_record(p) for p in job.sources]  # no record of ours: a clear NoParametersFound
    if job.kind in (GENERATE, COMPOSE):
        params = _params(job, records[0] if records else None)
        if job.kind == GENERATE:
            notes = check_fits(params, job.image_format)
            result = pipe.generate(params, on_step, cancel)
            paths = _write(pipe, job, result.images, result.params, result.stage_c, notes)
            return paths, [*notes, *result.warnings]
        notes = check_fits(params, "png")  # compositions are saved as PNG, whatever the image format
        composed = c.compose(pipe, params, on_step, cancel)
        pattern = f"{COMPOSITIONS_FOLDER}/{job.name_pattern}"
        saves = [
            (image, pipe.image_record(p, latent, kind="composition"), "png", pattern)
            for image, p, latent in zip(composed.previews, composed.params, composed.stage_c, strict=True)
        ]
        return _save_all(saves, job.out_dir, notes), [*notes, *composed.warnings]
    first = records[0]
    params = c.decoding_params(_params(job, first))
    notes = check_fits(params, job.image_format)
    latent = c.checked_latent(pipe, first)
    blend = first.blend
    if job.kind == BLEND:
        second = records[1]
        if first.blend is not None or second.blend is not None:
            raise InvalidParams(
                "One of these is already a blend; blends mix two plain compositions.",
                "Blend the compositions it was made from instead.",
            )
        if (first.prior_model, first.model_hash) != (second.prior_model, second.model_hash):
            raise InvalidParams(
                "These compositions were made by different priors, so their latents do not mix.",
                "Blend two compositions made with the same prior.",
            )
        latent = c.blend_latents(latent, c.checked_latent(pipe, second), job.weight)
        blend = Blend(second.params.replace(images=1, decoder_seed=None), job.weight)
    if blend is not None and (params.width, params.height) != (blend.other.width, blend.other.height):
        raise InvalidParams("Only compositions of the same size can be blended.")
    result = c.decode(pipe, latent, [params], on_step, cancel)
    # Stage C of this image ran when its composition was made: the record names that prior, not the one
    # loaded now; the decoder is the one that ran.
    record = pipe.image_record(params, result.stage_c[0], blend=blend)
    record = dataclasses.replace(
        record,
        prior_model=first.prior_model,
        prior_revision=first.prior_revision,
        model_hash=first.model_hash,
    )
    path = write_image(result.images[0], record, job.out_dir, job.image_format, job.name_pattern, notes=notes)
    return (path,), [*notes, *result.warnings]


def _write(
    pipe: Pipeline,
    job: Job,
    images: list[Any],
    params: list[GenerationParams],
    latents: Any,
    notes: list[str],
) -> tuple[Path, ...]:
    saves = [
        (image, pipe.image_record(p, latent), job.image_format, job.name_pattern)
        for image, p, latent in zip(images, params, latents, strict=True)
    ]
    return _save_all(saves, job.out_dir, notes)


class PartlySaved(SaveError):
    """Some of a job's files were written before one could not be: ``paths`` are the ones on disk."""

    def __init__(self, message: str, hint: str, paths: tuple[Path, ...]) -> None:
        super().__init__(message, hint)
        self.paths = paths


def _save_all(
    saves: list[tuple[Any, ImageRecord, str, str]], folder: Path, notes: list[str]
) -> tuple[Path, ...]:
    """Write every file in order. When one fails after others were written, the error names how many
    were saved and carries their paths, so the window still lists them: nothing made is lost from view.
    A file saved with less metadata adds its sentence to ``notes``; the same sentence is said once."""
    paths: list[Path] = []
    for image, record, fmt, pattern in saves:
        said: list[str] = []
        try:
            paths.append(write_image(image, record, folder, fmt, pattern, notes=said))
        except SaveError as exc:
            if not paths:
                raise
            message = f"Only {len(paths)} of {len(saves)} files were saved. {exc.message}"
            raise PartlySaved(message, exc.hint, tuple(paths)) from exc
        notes.extend(n for n in said if n not in notes)
    return tuple(paths)


__all__ = ["BLEND", "COMPOSE", "DECODE", "GENERATE", "execute"]
