"""Config dataclasses for the three stages. Their fields are the checkpoints' ``config.json`` keys."""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from typing import Any, TypeVar

log = logging.getLogger(__name__)

C = TypeVar("C", bound="StageConfig")


@dataclass(frozen=True)
class StageConfig:
    @classmethod
    def from_json(cls: type[C], data: dict[str, Any]) -> C:
        """Read a ``config.json`` dict; private ``_*`` keys are skipped, unknown keys logged and skipped."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(k for k in data if k not in names and not k.startswith("_"))
        if unknown:
            log.info("%s: ignoring config keys %s", cls.__name__, ", ".join(unknown))
        kwargs = {k: v for k, v in data.items() if k in names}
        for f in dataclasses.fields(cls):
            if f.name in kwargs and isinstance(kwargs[f.name], list):
                kwargs[f.name] = tuple(kwargs[f.name])
        return cls(**kwargs)

    def to_json(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()}


@dataclass(frozen=True)
class StageCConfig(StageConfig):
    """Stage C, the text-conditional prior (``WuerstchenPrior``)."""

    c_in: int = 16
    c: int = 1536
    c_cond: int = 1280
    c_r: int = 64
    depth: int = 32
    nhead: int = 24
    dropout: float = 0.1


@dataclass(frozen=True)
class StageBConfig(StageConfig):
    """Stage B, the latent decoder (``WuerstchenDiffNeXt``)."""

    c_in: int = 4
    c_out: int = 4
    c_r: int = 64
    patch_size: int = 2
    c_cond: int = 1024
    c_hidden: tuple[int, ...] = (320, 640, 1280, 1280)
    nhead: tuple[int, ...] = (-1, 10, 20, 20)
    blocks: tuple[int, ...] = (4, 4, 14, 4)
    level_config: tuple[str, ...] = ("CT", "CTA", "CTA", "CTA")
    inject_effnet: tuple[bool, ...] = (False, True, True, True)
    effnet_embd: int = 16
    clip_embd: int = 1024
    kernel_size: int = 3
    dropout: float | tuple[float, ...] = 0.1


@dataclass(frozen=True)
class StageAConfig(StageConfig):
    """Stage A, the VQGAN (``PaellaVQModel``)."""

    in_channels: int = 3
    out_channels: int = 3
    up_down_scale_factor: int = 2
    levels: int = 2
    bottleneck_blocks: int = 12
    embed_dim: int = 384
    latent_channels: int = 4
    num_vq_embeddings: int = 8192
    scale_factor: float = 0.3764


# Small configs with the real structure, for tests and the bundle self-test.
TINY_STAGE_C = StageCConfig(c_in=16, c=32, c_cond=32, c_r=64, depth=2, nhead=2)
TINY_STAGE_B = StageBConfig(
    c_hidden=(8, 16, 16, 16),
    nhead=(-1, 2, 2, 2),
    blocks=(1, 1, 1, 1),
    c_cond=16,
    clip_embd=24,
    effnet_embd=16,
)
TINY_STAGE_A = StageAConfig(bottleneck_blocks=1, embed_dim=16, num_vq_embeddings=32)
