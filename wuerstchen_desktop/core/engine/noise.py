"""Every image's noise, from its own seed: the one place generators are seeded and noise is drawn.

Image ``i`` of a job seeded ``S`` draws all its noise from a CPU generator seeded ``S + i`` (its
``GenerationParams.for_image(i).seed``), in the reference's order: Stage C's start, each Stage C step,
Stage B's start, each Stage B step. With a decoder seed, Stage B draws from a generator of its own, seeded
``decoder_seed + i``. So every image regenerates alone from its own parameters, seed for seed with the
reference diffusers pipeline.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from wuerstchen_desktop.core.params import GenerationParams


def generator(seed: int) -> torch.Generator:
    return torch.Generator("cpu").manual_seed(seed)


def image_generators(images: Sequence[GenerationParams]) -> list[torch.Generator]:
    """One generator per image (``images`` as ``params.per_image`` lists them), seeded by its own seed."""
    return [generator(p.seed) for p in images]


def decoder_generators(images: Sequence[GenerationParams]) -> list[torch.Generator]:
    """One generator per image for Stage B alone, seeded by its decoder seed (which each must have)."""
    if any(p.decoder_seed is None for p in images):
        raise ValueError("every image decoded on its own needs a decoder seed")
    return [generator(int(p.decoder_seed or 0)) for p in images]


def draw(generators: Sequence[torch.Generator], shape: tuple[int, ...], device: torch.device) -> torch.Tensor:
    """``(B, *shape)`` standard normal noise, one row per generator. Drawn in float32 on the CPU, image by
    image, then moved: a seed means the same image on every device and in every precision."""
    noise = [torch.randn((1, *shape), generator=g) for g in generators]
    return torch.cat(noise).to(device)
