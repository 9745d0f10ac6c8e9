"""What the window asks the worker to do, and what the worker reports back (plain data, no torch)."""

from __future__ import annotations

import itertools
import threading
from dataclasses import dataclass, field
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

    @classmethod
    def from_settings(cls, settings: Settings) -> EngineConfig:
        s = settings
        return cls(s.prior, s.decoder, s.device, s.dtype, s.offline, s.memory, s.compile)


@dataclass(frozen=True)
class Job:
    params: GenerationParams
    out_dir: Path
    image_format: str = "png"
    name_pattern: str = "{date}/{time}-{seed}-{slug}"
    id: int = field(default_factory=next_job_id)
    # A stored Stage C latent (1, 16, h, w) to decode again without running Stage C ("vary detail");
    # the params then carry the decoder seed.
    stage_c: Any = field(default=None, compare=False, repr=False)
    # Each job has its own flag, so a late cancel can never reach the job after it.
    cancel: threading.Event = field(default_factory=threading.Event, compare=False, repr=False)


@dataclass(frozen=True)
class JobResult:
    job_id: int
    paths: tuple[Path, ...]
    seconds: float
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class JobError:
    job_id: int
    message: str
    details: str
    missing_files: bool = False  # the checkpoints are not on disk: offer the download, not an error
