"""Carry parameters found in an image (ours or another tool's) over to a new job, saying what could not be."""

from __future__ import annotations

import dataclasses

from wuerstchen_desktop.core.errors import InvalidParams
from wuerstchen_desktop.core.imagefile.record import ImageParameters
from wuerstchen_desktop.core.params import (
    MAX_GUIDANCE,
    MAX_SEED,
    GenerationParams,
    composition_job,
    nearest_valid_sizes,
)


def carry_over(found: ImageParameters, current: GenerationParams) -> tuple[GenerationParams, list[str]]:
    """The job to show in the prompt panel, and one sentence per thing that was not carried over.

    Our own files give back their exact job (one image of it). Other tools' files give what fits:
    prompt, negative prompt, seed, guidance and size; their step counts belong to other samplers.
    """
    if found.record is not None:
        params = found.record.params
        if params.source is None:
            return params, []
        note = (
            "This image was made from a picture, which is not carried over: the job starts from text. "
            "Start from the picture again to make it the same way."
        )
        return composition_job(params).replace(
            strength=1.0, source=None, source_width=None, source_height=None
        ), [note]
    notes: list[str] = []
    changes: dict[str, object] = {"prompt": found.prompt, "negative_prompt": found.negative_prompt}
    if found.seed is not None:
        if 0 <= found.seed <= MAX_SEED - (current.images - 1):
            changes["seed"] = found.seed
        else:
            notes.append(f"The seed {found.seed} is out of range; kept {current.seed}.")
    if found.guidance is not None:
        if 0 <= found.guidance <= MAX_GUIDANCE:
            changes["prior_guidance"] = float(found.guidance)
        else:
            notes.append(f"The guidance {found.guidance:g} is out of range; kept {current.prior_guidance:g}.")
    if found.width is not None and found.height is not None:
        try:
            GenerationParams("", width=found.width, height=found.height)
            changes.update(width=found.width, height=found.height)
        except InvalidParams:
            near = "×".join(str(_nearest(v)) for v in (found.width, found.height))
            notes.append(
                f"The size {found.width}×{found.height} does not suit Würstchen (multiples of 128 from 256 "
                f"to 2048); kept {current.width}×{current.height}; {near} is the nearest."
            )
    if found.steps is not None:
        notes.append(
            f"The {found.steps} steps of the other tool's sampler do not apply; the schedule is kept."
        )
    return dataclasses.replace(current, **changes), notes  # type: ignore[arg-type]


def _nearest(value: int) -> int:
    return min(nearest_valid_sizes(value), key=lambda size: abs(size - value))
