"""What a job reports while it runs and what it returns."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch
from PIL import Image

from wuerstchen_desktop.core.errors import InvalidParams
from wuerstchen_desktop.core.params import GenerationParams


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


@dataclass
class GenerationResult:
    """The images of a job, in prompt-major order, with what is needed to decode them again."""

    images: list[Image.Image]
    pixels: torch.Tensor  # (B, 3, H, W) float32 on the CPU, in [0, 1]
    stage_c: torch.Tensor  # (B, 16, h, w) float32 on the CPU: the decoder's conditioning
    params: list[GenerationParams]  # one per image; each regenerates its image alone
    warnings: list[str] = field(default_factory=list)


def check_batchable(jobs: Sequence[GenerationParams]) -> None:
    if not jobs:
        raise InvalidParams("Nothing to generate.")
    first = jobs[0]
    for job in jobs[1:]:
        for name in ("width", "height", "prior_steps", "prior_guidance", "decoder_steps", "decoder_guidance"):
            if getattr(job, name) != getattr(first, name):
                raise InvalidParams(
                    f"Prompts generated together must share their {name.replace('_', ' ')}.",
                    "Run them as separate jobs.",
                )


def to_uint8(pixels: torch.Tensor) -> torch.Tensor:
    """``(B, 3, H, W)`` in [0, 1] to ``(B, H, W, 3)`` 8-bit RGB on the CPU, rounding as the reference does."""
    arr = (pixels.detach().float().clamp(0, 1) * 255).round().to(torch.uint8).permute(0, 2, 3, 1)
    return arr.contiguous().cpu()


def to_pil(pixels: torch.Tensor) -> list[Image.Image]:
    """``(B, 3, H, W)`` in [0, 1] to 8-bit RGB images, rounding as the reference does."""
    return [Image.fromarray(a) for a in to_uint8(pixels).numpy()]


def stored(latent: torch.Tensor) -> torch.Tensor:
    """Latents ``(B, 16, h, w)`` as files store them (see ``encode_latent``), in float32 on the CPU: each
    rounded to float16, or kept in float32 when a value lies beyond float16's range."""
    x = latent.detach().float().cpu()
    largest = torch.where(torch.isfinite(x), x.abs(), 0.0).reshape(x.shape[0], -1).amax(dim=1)
    fits = (largest <= torch.finfo(torch.float16).max).reshape(-1, *[1] * (x.dim() - 1))
    return torch.where(fits, x.half().float(), x)
