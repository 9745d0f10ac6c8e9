"""What a job reports while it runs, how it is cancelled, and what its stages share."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch


@dataclass(frozen=True)
class StepEvent:
    """Reported after each denoising step (and once for the VQGAN decode); ``step`` counts from 1.

    ``denoised`` is the step's estimate of the clean latent (what a live preview shows); ``None`` for the
    VQGAN decode.
    """

    stage: str
    step: int
    total: int
    latents: torch.Tensor
    denoised: torch.Tensor | None = None


StepCallback = Callable[[StepEvent], None]
CancelCheck = Callable[[], bool]


@dataclass(frozen=True)
class Run:
    """What every stage of one run of the recipe shares: one noise generator per image (see noise.py), the
    step callback, the cancel check, and the warnings the job will show (stages add theirs)."""

    generators: list[torch.Generator]
    on_step: StepCallback | None = None
    cancel: CancelCheck | None = None
    warnings: list[str] = field(default_factory=list)

    def report(self, event: StepEvent) -> None:
        if self.on_step is not None:
            self.on_step(event)

    def cancelled(self) -> bool:
        return self.cancel is not None and self.cancel()
