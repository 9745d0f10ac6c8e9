"""Images as the app saves them: random pixels with our record (parameters and a Stage C latent)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from wuerstchen_desktop.core.imagefile.record import ImageRecord, encode_latent
from wuerstchen_desktop.core.imagefile.write import write_image
from wuerstchen_desktop.core.params import GenerationParams

T0 = 1_700_000_000.0


def save(out: Path, prompt: str, seed: int = 0, when: float = T0, fmt: str = "png", size: int = 64) -> Path:
    """An image in ``out`` as the app writes it, made at ``when``; its pixels and latent follow ``seed``."""
    pixels = Image.fromarray(np.random.default_rng(seed).integers(0, 256, (size, size, 3), dtype=np.uint8))
    latent = encode_latent(np.full((16, 3, 3), seed, dtype=np.float32))
    return write_image(
        pixels, ImageRecord(GenerationParams(prompt, seed=seed), latent=latent), out, fmt, when=when
    )
