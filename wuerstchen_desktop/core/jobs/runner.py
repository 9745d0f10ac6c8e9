"""The one job runner: what each kind of job does with the pipeline, and the files it writes. No Qt here:
the command line calls ``execute`` directly; the window's generation worker calls it on its thread.

Jobs with source files read their parameters (and stored compositions) from those files on this
thread, so the window never waits for a read and every job is made from what the files say. Before any
model work, the output folder is proven writable and each job's parameters are checked against what its
files can carry (``check_fits``): a record too long to read back fails the job at once; a note (a JPEG's
shortened text) and any metadata a save had to leave out come first among the job's warnings, before the
prompt's, which can be long. ``check`` makes those checks alone, so the command line refuses a job before
it downloads or loads any model.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from wuerstchen_desktop.core import appdirs
from wuerstchen_desktop.core.engine import compose as c
from wuerstchen_desktop.core.errors import InvalidParams, PartlySaved, SaveError
from wuerstchen_desktop.core.imagefile.read import read_record
from wuerstchen_desktop.core.imagefile.record import Blend, ImageRecord
from wuerstchen_desktop.core.imagefile.write import check_fits, write_image
from wuerstchen_desktop.core.jobs.job import COMPOSITIONS_FOLDER, Job, JobKind
from wuerstchen_desktop.core.jobs.records import checked_latent, image_record
from wuerstchen_desktop.core.jobs.reproduce import reproduce
from wuerstchen_desktop.core.jobs.start import Picture, read_picture, start_for, with_picture
from wuerstchen_desktop.core.jobs.upscale import upscale_inputs, upscale_params
from wuerstchen_desktop.core.library.outputdir import check_output_dir
from wuerstchen_desktop.core.params import GenerationParams, composition_job
from wuerstchen_desktop.core.prompts.wildcards import expand_images

if TYPE_CHECKING:
    from PIL import Image

    from wuerstchen_desktop.core.engine.pipeline import Pipeline
    from wuerstchen_desktop.core.engine.progress import CancelCheck, StepCallback
    from wuerstchen_desktop.core.engine.recipe import Start


@dataclass(frozen=True)
class Saved:
    """One file a job wrote: its path, the image before encoding, and its record (the file's also says
    when it was written)."""

    path: Path
    image: Image.Image
    record: ImageRecord


OnSaved = Callable[[Saved], None]
_Save = tuple[Any, ImageRecord, str, str]  # image, record, format, name pattern


def _params(job: Job, record: ImageRecord | None, picture: Picture | None) -> GenerationParams:
    # A new job from an upscaled image starts from the text job that composed it.
    base = composition_job(record.params).replace(images=1) if record is not None else job.params
    if base is None:
        raise InvalidParams("This job has no parameters.")
    changes = dict(job.changes)
    if picture is not None and changes.get("strength", base.strength) < 1:
        changes["source"] = picture.sha256  # the picture this job starts from, whatever the record named
    return base.replace(**changes) if changes else base


@dataclass(frozen=True)
class _Checked:
    records: list[ImageRecord]  # one per source file
    params: GenerationParams  # what the job makes: for a decode or blend, with its decoder seed
    notes: list[str]
    picture: Picture | None = None  # the picture Stage C starts from


_RUN_STAGE_C = (JobKind.GENERATE, JobKind.COMPOSE, JobKind.REPRODUCE)


def _check(job: Job) -> _Checked:
    check_output_dir(job.out_dir)  # a folder unplugged or replaced since start: said now, not after the work
    records = [read_record(p) for p in job.sources]  # no record of ours: a clear NoParametersFound
    picture = read_picture(job.start) if job.start is not None else None
    if job.kind is JobKind.UPSCALE and picture is not None:
        params = upscale_params(picture, dict(job.changes))
        return _Checked(records, params, check_fits(params, job.image_format), picture)
    if job.kind is JobKind.REPRODUCE:
        params = records[0].params
    else:
        params = _params(job, records[0] if records else None, picture)
    if job.kind in (JobKind.DECODE, JobKind.BLEND):
        params = c.decoding_params(params)
    if job.kind in _RUN_STAGE_C:
        params = with_picture(params, picture)
    fmt = "png" if job.kind is JobKind.COMPOSE else job.image_format  # compositions are always PNG
    return _Checked(records, params, check_fits(params, fmt), picture)


def check(job: Job) -> list[str]:
    """What ``execute`` makes sure of before any model work, for a caller that wants it said before it
    loads (or downloads) the models: the output folder takes files, each source file holds our record,
    and the records fit the files. Returns the notes to show; raises a ``WuerstchenError`` otherwise."""
    return _check(job).notes


def execute(
    pipe: Pipeline,
    job: Job,
    on_step: StepCallback | None = None,
    cancel: CancelCheck | None = None,
    on_saved: OnSaved | None = None,
) -> tuple[tuple[Path, ...], list[str]]:
    """Run ``job`` and write its files; returns their paths and the warnings to show. ``on_saved`` hears
    of each file as soon as it is on disk."""
    checked = _check(job)
    records, params, notes = checked.records, checked.params, checked.notes
    if params.upscale > 1 and checked.picture is not None:  # an upscale, or one made again
        return _upscale(pipe, job, params, checked.picture, notes, on_step, cancel, on_saved)
    picture = checked.picture if job.kind in _RUN_STAGE_C and params.source is not None else None
    start = None
    if picture is not None:
        start, said = start_for(pipe, params, picture)
        notes = [*notes, *said]
    if job.kind is JobKind.REPRODUCE:
        return _reproduce(pipe, job, records[0], notes, on_step, cancel, on_saved, start)
    if job.kind is JobKind.GENERATE:
        result = pipe.generate(_images(job, params), on_step, cancel, start)
        saves = [
            (image, image_record(pipe, p, latent), job.image_format, job.name_pattern)
            for image, p, latent in zip(result.images, result.params, result.stage_c, strict=True)
        ]
        return _save_all(saves, job.out_dir, notes, on_saved), [*notes, *result.warnings]
    if job.kind is JobKind.COMPOSE:
        composed = c.compose(pipe, _images(job, params), on_step, cancel, start)
        pattern = f"{COMPOSITIONS_FOLDER}/{job.name_pattern}"
        saves = [
            (image, image_record(pipe, p, latent, kind="composition"), "png", pattern)
            for image, p, latent in zip(composed.previews, composed.params, composed.stage_c, strict=True)
        ]
        return _save_all(saves, job.out_dir, notes, on_saved), [*notes, *composed.warnings]
    first = records[0]
    latent = checked_latent(pipe, first)
    blend = first.blend
    if job.kind is JobKind.BLEND:
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
        latent = c.blend_latents(latent, checked_latent(pipe, second), job.weight)
        blend = Blend(second.params.replace(images=1, decoder_seed=None), job.weight)
    if blend is not None and (params.width, params.height) != (blend.other.width, blend.other.height):
        raise InvalidParams("Only compositions of the same size can be blended.")
    result = c.decode(pipe, latent, [params], on_step, cancel)
    # Stage C of this image ran when its composition was made: the record names that prior, not the one
    # loaded now; the decoder is the one that ran.
    record = dataclasses.replace(
        image_record(pipe, params, result.stage_c[0], blend=blend),
        prior_model=first.prior_model,
        prior_revision=first.prior_revision,
        model_hash=first.model_hash,
    )
    saves = [(result.images[0], record, job.image_format, job.name_pattern)]
    return _save_all(saves, job.out_dir, notes, on_saved), [*notes, *result.warnings]


def _images(job: Job, params: GenerationParams) -> list[GenerationParams]:
    """A new job's images, each with the prompt its own seed expands its wildcards to (one batch still).
    A job made from a file keeps the prompt its record holds: the record, not the lists, is the truth."""
    return [params] if job.sources else expand_images(params, appdirs.wildcards_dir())


def _upscale(
    pipe: Pipeline,
    job: Job,
    params: GenerationParams,
    picture: Picture,
    notes: list[str],
    on_step: StepCallback | None,
    cancel: CancelCheck | None,
    on_saved: OnSaved | None,
) -> tuple[tuple[Path, ...], list[str]]:
    """Upscale 2x ``picture``; its record names the picture, and keeps the composition's own prior."""
    stage_c, pixels, said = upscale_inputs(pipe, params, picture)
    notes = [*notes, *said]
    result = pipe.upscale(params, stage_c, pixels, on_step, cancel)
    record = image_record(pipe, params, result.stage_c[0])
    made = picture.record
    if made is not None and made.latent is not None:  # Stage C ran when the picture was made
        record = dataclasses.replace(
            record,
            prior_model=made.prior_model,
            prior_revision=made.prior_revision,
            model_hash=made.model_hash,
        )
    saves = [(result.images[0], record, job.image_format, job.name_pattern)]
    return _save_all(saves, job.out_dir, notes, on_saved), [*notes, *result.warnings]


def _reproduce(
    pipe: Pipeline,
    job: Job,
    original: ImageRecord,
    notes: list[str],
    on_step: StepCallback | None,
    cancel: CancelCheck | None,
    on_saved: OnSaved | None,
    start: Start | None,
) -> tuple[tuple[Path, ...], list[str]]:
    """The file made again from its record, saved in the job's format and naming whatever it is (a
    composition too), with a record of the same kind and blend."""
    result = reproduce(pipe, original, on_step, cancel, start)
    made = result.previews[0] if isinstance(result, c.CompositionResult) else result.images[0]
    record = image_record(pipe, result.params[0], result.stage_c[0], kind=original.kind, blend=original.blend)
    saves = [(made, record, job.image_format, job.name_pattern)]
    return _save_all(saves, job.out_dir, notes, on_saved), [*notes, *result.warnings]


def _save_all(
    saves: list[_Save], folder: Path, notes: list[str], on_saved: OnSaved | None
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
        if on_saved is not None:
            on_saved(Saved(paths[-1], image, record))
    return tuple(paths)


__all__ = ["OnSaved", "Saved", "check", "execute"]
