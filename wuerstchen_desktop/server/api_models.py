"""The request and answer shapes of the server's own routes under ``/wuerstchen/v1``. The limits are the
command line's (core/params.py), so the OpenAPI document states them; ``GenerationParams`` then checks
every value again and says the CLI's sentence. Unknown fields are refused: a typo is not silently lost."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from wuerstchen_desktop.core.params import (
    MAX_DECODER_STEPS,
    MAX_GUIDANCE,
    MAX_IMAGES,
    MAX_PRIOR_STEPS,
    MAX_SEED,
    MAX_SIZE,
    MIN_SIZE,
    GenerationParams,
    random_seed,
)
from wuerstchen_desktop.server.a1111 import MAX_PROMPT_CHARS
from wuerstchen_desktop.server.uploads import MAX_COMPOSITION_BYTES, MAX_PICTURE_BYTES, base64_chars

Status = Literal["waiting", "running", "done", "failed", "interrupted", "cancelled"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class JobOptions(_Strict):
    wait: bool = Field(
        default=True, description="Answer once the job has ended; false: at once (202) with its id."
    )
    send_files: bool = Field(
        default=True, description="The files, base64, in the answer; false: their records only."
    )


class TextJob(JobOptions):
    """A job from text: ``generate`` makes images, ``compose`` only their compositions (Stage C)."""

    prompt: str = Field(default="", max_length=MAX_PROMPT_CHARS)
    negative_prompt: str = Field(default="", max_length=MAX_PROMPT_CHARS)
    width: int = Field(default=1024, ge=MIN_SIZE, le=MAX_SIZE, description="A multiple of 128.")
    height: int = Field(default=1024, ge=MIN_SIZE, le=MAX_SIZE, description="A multiple of 128.")
    seed: int | None = Field(
        default=None, ge=0, le=MAX_SEED, description="None: random. Image i has seed + i."
    )
    images: int = Field(default=1, ge=1, le=MAX_IMAGES, description="Several seeds: a contact sheet.")
    prior_steps: int | None = Field(
        default=None, ge=1, le=MAX_PRIOR_STEPS, description="None: the official 29."
    )
    prior_guidance: float = Field(default=4.0, ge=0, le=MAX_GUIDANCE)
    decoder_steps: int = Field(default=12, ge=1, le=MAX_DECODER_STEPS)
    decoder_guidance: float = Field(default=0.0, ge=0, le=MAX_GUIDANCE)

    def params(self) -> GenerationParams:
        """The job's parameters, checked with the CLI's sentences (``InvalidParams``)."""
        return GenerationParams(
            prompt=self.prompt,
            negative_prompt=self.negative_prompt,
            width=self.width,
            height=self.height,
            seed=random_seed() if self.seed is None else self.seed,
            images=self.images,
            prior_steps=self.prior_steps,
            prior_guidance=self.prior_guidance,
            decoder_steps=self.decoder_steps,
            decoder_guidance=self.decoder_guidance,
        )


class DecoderChanges(JobOptions):
    """What a decode may change (vary detail, more steps); None keeps the composition's own."""

    decoder_seed: int | None = Field(
        default=None, ge=0, le=MAX_SEED, description="None: the composition's seed."
    )
    decoder_steps: int | None = Field(default=None, ge=1, le=MAX_DECODER_STEPS)
    decoder_guidance: float | None = Field(default=None, ge=0, le=MAX_GUIDANCE)

    def changes(self) -> tuple[tuple[str, Any], ...]:
        fields = ("decoder_seed", "decoder_steps", "decoder_guidance")
        return tuple((f, getattr(self, f)) for f in fields if getattr(self, f) is not None)


COMPOSITION_CHARS = base64_chars(MAX_COMPOSITION_BYTES)
PICTURE_CHARS = base64_chars(MAX_PICTURE_BYTES)


class DecodeRequest(DecoderChanges):
    composition: str = Field(
        max_length=COMPOSITION_CHARS,
        description="A composition file (or an image made here), its bytes base64: never a path.",
    )


class BlendRequest(DecoderChanges):
    compositions: list[Annotated[str, StringConstraints(max_length=COMPOSITION_CHARS)]] = Field(
        min_length=2,
        max_length=2,
        description="Two compositions of the same size and prior, base64 (a blend's record names two).",
    )
    weight: float = Field(
        default=0.5, ge=0, le=1, description="The second's share: 0 all the first, 1 all of it."
    )


class ReproduceRequest(JobOptions):
    image: str | None = Field(
        default=None, max_length=PICTURE_CHARS, description="A PNG, JPEG or WebP made here, its bytes base64."
    )
    parameters: dict[str, Any] | None = Field(
        default=None, description="Or its record: the `wuerstchen` object `wuerstchen-desktop read` prints."
    )


class MadeFile(BaseModel):
    kind: Literal["image", "composition"]
    name: str = Field(description="The file's path in the server's output folder.")
    seed: int
    parameters: dict[str, Any] = Field(description="The job's parameters as the file records them.")
    infotext: str = Field(description="The A1111-style `parameters` text the file carries.")
    file: str | None = Field(default=None, description="The file's bytes, base64 (a composition file).")
    preview: str | None = Field(default=None, description="A composition's preview, a plain PNG, base64.")


class JobAnswer(BaseModel):
    job: str
    kind: Literal["generate", "compose", "decode", "blend", "reproduce", "txt2img"]
    status: Status
    position: int | None = Field(
        default=None, description="Its place among the jobs waiting; None once it runs."
    )
    progress: float = 0.0
    eta: float = Field(default=0.0, description="Seconds left of the running job, estimated.")
    files: list[MadeFile] = Field(default_factory=list)
    warnings: list[str] = Field(default_factory=list)
    detail: str | None = Field(default=None, description="Why it failed, one sentence.")


class QueueAnswer(BaseModel):
    jobs: list[JobAnswer] = Field(description="The caller's own jobs: waiting, running, recently ended.")
    waiting: int = Field(description="Jobs waiting, every client's.")
    limit: int = Field(description="How many jobs one client may have waiting.")


class ErrorAnswer(BaseModel):
    detail: str
    job: str | None = None


class StepEvent(BaseModel):
    """One ``step`` event of a job's stream (``data:`` is this, as JSON)."""

    job: str
    job_no: int = Field(description="Which of the request's runs (an A1111 n_iter) is stepping.")
    stage: str = Field(description="prior (Stage C), decoder (Stage B), vqgan (Stage A)")
    step: int
    total: int
    progress: float
    eta: float
    preview: str | None = Field(
        default=None, description="Stage C's live preview of the first image, PNG base64."
    )
