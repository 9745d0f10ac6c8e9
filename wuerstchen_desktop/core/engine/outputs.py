"""What the recipe returns: images, their latents and their parameters."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from PIL import Image

from wuerstchen_desktop.core.latent_storage import as_stored
from wuerstchen_desktop.core.params import GenerationParams


@dataclass
class GenerationResult:
    """The images of a job, in prompt-major order, with what is needed to decode them again."""

    images: list[Image.Image]
    pixels: torch.Tensor  # (B, 3, H, W) float32 on the CPU, in [0, 1]
    stage_c: torch.Tensor  # (B, 16, h, w) float32 on the CPU: the decoder's conditioning
    params: list[GenerationParams]  # one per image; each regenerates its image alone
    warnings: list[str] = field(default_factory=list)


@dataclass
class CompositionResult:
    """Stage C results of a compose job, in prompt-major order, each with its preview."""

    stage_c: torch.Tensor  # (B, 16, h, w) float32 on the CPU: the decoder's conditioning
    previews: list[Image.Image]  # the previewer's pixels: 4x the latent's size (96x96 at 1024x1024)
    approximate: bool  # previews from the cheap approximation, not the previewer network
    params: list[GenerationParams]  # one per composition (images=1)
    warnings: list[str] = field(default_factory=list)


def to_uint8(pixels: torch.Tensor) -> torch.Tensor:
    """``(B, 3, H, W)`` in [0, 1] to ``(B, H, W, 3)`` 8-bit RGB on the CPU, rounding as the reference does."""
    arr = (pixels.detach().float().clamp(0, 1) * 255).round().to(torch.uint8).permute(0, 2, 3, 1)
    return arr.contiguous().cpu()


def to_pil(pixels: torch.Tensor) -> list[Image.Image]:
    """``(B, 3, H, W)`` in [0, 1] to 8-bit RGB images, rounding as the reference does."""
    return [Image.fromarray(a) for a in to_uint8(pixels).numpy()]


def stored(latents: torch.Tensor) -> torch.Tensor:
    """Latents ``(B, 16, h, w)`` as their files store them (``latent_storage.as_stored``, each on its own), in
    float32 on the CPU."""
    x = latents.detach().float().cpu()
    return torch.stack([torch.from_numpy(as_stored(row.numpy())) for row in x]) if len(x) else x
