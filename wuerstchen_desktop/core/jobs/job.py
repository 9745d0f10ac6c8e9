"""What is asked of the job runner, and what it reports back (plain data, no torch, no Qt)."""

from __future__ import annotations

import itertools
import threading
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

from wuerstchen_desktop.core.params import DEFAULT_DECODER_REPO, DEFAULT_PRIOR_REPO, GenerationParams
from wuerstchen_desktop.core.settings import Settings

_ids = itertools.count(1)


def next_job_id() -> int:
    return next(_ids)


@dataclass(frozen=True)
class EngineConfig:
    """Which checkpoints to use and where; fixed for the life of one worker."""

    prior: str = DEFAULT_PRIOR_REPO
    decoder: str = DEFAULT_DECODER_REPO
    device: str = "auto"
    dtype: str = "auto"
    offline: bool = False
    memory: str = "auto"
    compile: bool = False
    models_dir: Path | None = None  # the Hub cache the checkpoints are in; None: huggingface_hub's own

    @classmethod
    def from_settings(cls, settings: Settings) -> EngineConfig:
        s = settings
        return cls(s.prior, s.decoder, s.device, s.dtype, s.offline, s.memory, s.compile, s.models_folder)


class JobKind(str, Enum):
    """What a job does. The values are the names logs and messages use."""

    GENERATE = "generate"  # the whole recipe; with a source: that file's parameters, with ``changes``
    COMPOSE = "compose"  # Stage C only: each composition saved with its preview under compositions/
    DECODE = "decode"  # decode the composition stored in ``sources[0]`` with ``changes`` (vary detail, …)
    BLEND = "blend"  # mix the compositions of ``sources[0]`` and ``sources[1]`` by ``weight``, then decode
    REPRODUCE = "reproduce"  # make ``sources[0]`` again from its record alone, saved like the original
    UPSCALE = "upscale"  # Upscale 2x the picture ``start``, with ``changes`` (strength, decoder seed, prompt)


COMPOSITIONS_FOLDER = "compositions"
_SOURCES = {JobKind.DECODE: 1, JobKind.BLEND: 2, JobKind.REPRODUCE: 1}  # kinds that need source files


@dataclass(frozen=True)
class Job:
    """One request to the runner. ``params`` is what the user asked for; a job with ``sources`` takes
    the parameters from those files instead (read on the runner's thread) and applies ``changes``."""

    params: GenerationParams | None
    out_dir: Path
    image_format: str = "png"
    name_pattern: str = "{date}/{time}-{seed}-{slug}"
    id: int = field(default_factory=next_job_id)
    kind: JobKind = JobKind.GENERATE
    sources: tuple[Path, ...] = ()
    changes: tuple[tuple[str, Any], ...] = ()  # field name, new value
    weight: float = 0.5  # a blend's share of the second composition
    start: Path | None = None  # the picture Stage C starts from when the strength is below 1
    prior: str | None = None  # another prior than the engine's for this job (a grid over priors)
    # Each job has its own flag, so a late cancel can never reach the job after it.
    cancel: threading.Event = field(default_factory=threading.Event, compare=False, repr=False)

    def __post_init__(self) -> None:
        if not isinstance(self.kind, JobKind):
            raise ValueError(f"unknown job kind {self.kind!r}")
        wanted = _SOURCES.get(self.kind)
        if wanted is not None and len(self.sources) != wanted:
            raise ValueError(f"a {self.kind.value} job needs {wanted} source file(s)")
        if self.kind is JobKind.UPSCALE and self.start is None:
            raise ValueError("an upscale job needs the picture it upscales")
        if self.params is None and not self.sources and self.start is None:
            raise ValueError("a job needs parameters or a source file")


@dataclass(frozen=True)
class Preview:
    """A live preview of a job's Stage C, sent after a prior step: one RGB888 buffer per image."""

    job_id: int
    step: int
    total: int
    width: int
    height: int
    images: tuple[bytes, ...] = field(repr=False)
    seeds: tuple[int, ...]
    approximate: bool  # no previewer network installed: the layout is right, the colours are not


@dataclass(frozen=True)
class JobResult:
    job_id: int
    paths: tuple[Path, ...]
    seconds: float
    warnings: tuple[str, ...] = ()
    kind: JobKind = JobKind.GENERATE


@dataclass(frozen=True)
class JobError:
    job_id: int
    message: str
    details: str
    missing_files: bool = False  # the checkpoints are not on disk: offer the download, not an error
    paths: tuple[Path, ...] = ()  # files the job wrote before it failed (the disk filled up, say)
