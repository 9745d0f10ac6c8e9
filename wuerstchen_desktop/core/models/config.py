"""Config dataclasses for the three stages. Their fields are the checkpoints' ``config.json`` keys.

A config is checked field by field when it is made, before any module is built: a damaged or hostile
``config.json`` (a string for a number, a negative size, a depth of a billion) is refused with the field,
its value and what is expected, instead of a traceback or a model that fills the memory. The bounds admit
the published checkpoints, Stable-Cascade-sized variants and the tiny test configs, with room to spare.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import reprlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

log = logging.getLogger(__name__)

C = TypeVar("C", bound="StageConfig")

MAX_CHANNELS = 16384  # widest layer: the published models use at most 1536, Stable Cascade 2048
MAX_IO_CHANNELS = 256  # latent and image channels (published: 3, 4, 16)
MAX_DEPTH = 256  # Stage C blocks (published: 32; Stable Cascade: 48)
MAX_LEVELS = 8  # Stage B and VQGAN resolution levels (published: 4 and 2)
MAX_LEVEL_BLOCKS = 128  # blocks per Stage B level (published: at most 14)
MAX_CODEBOOK = 2**20  # VQGAN codebook entries (published: 8192)
MAX_MODULE_BLOCKS = 2048  # every block of a Stage B, down and up (published: 312)

_repr = reprlib.Repr()
_repr.maxlevel, _repr.maxstring, _repr.maxother, _repr.maxlist, _repr.maxlong = 2, 40, 40, 8, 40


def shown(value: Any) -> str:
    """A short, safe rendering of a value read from a file (huge or deeply nested values are cut)."""
    return _repr.repr(value)


class ConfigFieldError(ValueError):
    """A config field holds a value the model cannot be built from.

    Not a WuerstchenError: it knows the field, not the file; the loaders turn it into a CheckpointError."""

    def __init__(self, name: str, value: Any, expected: str) -> None:
        super().__init__(f"{name} is {shown(value)}, but it must be {expected}")
        self.name = name
        self.value = value
        self.expected = expected


def whole(name: str, value: Any, low: int, high: int) -> int:
    """``value`` if it is a whole number (not a bool, not a float) from ``low`` to ``high``."""
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ConfigFieldError(name, value, f"a whole number from {low} to {high}")
    return value


def number(name: str, value: Any, low: float, high: float, *, above_low: bool = False) -> float:
    """``value`` if it is a finite number from ``low`` (excluded when ``above_low``) to ``high``."""
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or not (low < value if above_low else low <= value) or not value <= high:
        span = f"above {low:g} and at most {high:g}" if above_low else f"from {low:g} to {high:g}"
        raise ConfigFieldError(name, value, f"a number {span}")
    return float(value)


def per_level(name: str, value: Any, levels: int, item: Callable[[str, Any], object], what: str) -> None:
    """``value`` is a list of ``levels`` items, each accepted by ``item``."""
    if not isinstance(value, (tuple, list)) or len(value) != levels:
        raise ConfigFieldError(name, value, f"a list of {levels} {what}, one per entry of c_hidden")
    for i, v in enumerate(value):
        item(f"{name}[{i}]", v)


@dataclass(frozen=True)
class StageConfig:
    def __post_init__(self) -> None:
        self.check()

    def check(self) -> None:
        """Raise ``ConfigFieldError`` for the first field the model cannot be built from."""

    @classmethod
    def from_json(cls: type[C], data: dict[str, Any]) -> C:
        """Read a ``config.json`` dict; private ``_*`` keys are skipped, unknown keys logged and skipped.
        A field the model cannot be built from raises ``ConfigFieldError``."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(str(k) for k in data if k not in names and not str(k).startswith("_"))
        if unknown:
            log.info("%s: ignoring config keys %s", cls.__name__, shown(unknown))
        kwargs = {k: v for k, v in data.items() if k in names}
        for f in dataclasses.fields(cls):
            if f.name in kwargs and isinstance(kwargs[f.name], list):
                kwargs[f.name] = tuple(kwargs[f.name])
        return cls(**kwargs)

    def to_json(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()}


def _heads(name: str, value: Any, width: int, width_name: str) -> None:
    """Attention heads: a whole number that divides the width the heads split."""
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= width or width % value:
        raise ConfigFieldError(name, value, f"a whole number from 1 to {width} that divides {width_name}")


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

    def check(self) -> None:
        whole("c_in", self.c_in, 1, MAX_IO_CHANNELS)
        whole("c", self.c, 1, MAX_CHANNELS)
        whole("c_cond", self.c_cond, 1, MAX_CHANNELS)
        whole("c_r", self.c_r, 4, 4096)  # the timestep embedding needs two frequencies or more
        whole("depth", self.depth, 1, MAX_DEPTH)
        _heads("nhead", self.nhead, self.c, f"c ({self.c})")
        number("dropout", self.dropout, 0, 1)


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

    def check(self) -> None:
        whole("c_in", self.c_in, 1, MAX_IO_CHANNELS)
        whole("c_out", self.c_out, 1, MAX_IO_CHANNELS)
        whole("c_r", self.c_r, 4, 4096)
        whole("patch_size", self.patch_size, 1, 16)
        whole("c_cond", self.c_cond, 1, MAX_CHANNELS)
        whole("effnet_embd", self.effnet_embd, 1, MAX_CHANNELS)
        whole("clip_embd", self.clip_embd, 1, MAX_CHANNELS)
        if whole("kernel_size", self.kernel_size, 1, 31) % 2 == 0:
            raise ConfigFieldError("kernel_size", self.kernel_size, "an odd whole number from 1 to 31")
        hidden = self.c_hidden
        if not isinstance(hidden, (tuple, list)) or not 1 <= len(hidden) <= MAX_LEVELS:
            raise ConfigFieldError("c_hidden", hidden, f"a list of 1 to {MAX_LEVELS} widths, one per level")
        for i, c in enumerate(hidden):
            whole(f"c_hidden[{i}]", c, 1, MAX_CHANNELS)
        n = len(hidden)

        def kinds(name: str, v: Any) -> None:
            if not isinstance(v, str) or not 1 <= len(v) <= 8 or set(v) - set("CTA"):
                raise ConfigFieldError(name, v, "1 to 8 of the letters C, T and A")

        def flag(name: str, v: Any) -> None:
            if not isinstance(v, bool):
                raise ConfigFieldError(name, v, "true or false")

        per_level("level_config", self.level_config, n, kinds, "block kinds")
        per_level("inject_effnet", self.inject_effnet, n, flag, "true/false values")
        per_level("blocks", self.blocks, n, lambda k, v: whole(k, v, 0, MAX_LEVEL_BLOCKS), "block counts")
        if not isinstance(self.nhead, (tuple, list)) or len(self.nhead) != n:
            raise ConfigFieldError(
                "nhead", self.nhead, f"a list of {n} head counts, one per entry of c_hidden"
            )
        for i, heads in enumerate(self.nhead):
            if "A" in self.level_config[i]:
                _heads(f"nhead[{i}]", heads, hidden[i], f"c_hidden[{i}] ({hidden[i]})")
            else:  # unused at a level without attention (published: -1)
                whole(f"nhead[{i}]", heads, -1, MAX_CHANNELS)
        if isinstance(self.dropout, (tuple, list)):
            per_level("dropout", self.dropout, n, lambda k, v: number(k, v, 0, 1), "numbers from 0 to 1")
        else:
            number("dropout", self.dropout, 0, 1)
        total = 2 * sum(b * len(k) for b, k in zip(self.blocks, self.level_config, strict=True))
        if total > MAX_MODULE_BLOCKS:
            raise ConfigFieldError(
                "blocks",
                self.blocks,
                f"at most {MAX_MODULE_BLOCKS} blocks in all with level_config (not {total})",
            )


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

    def check(self) -> None:
        whole("in_channels", self.in_channels, 1, MAX_IO_CHANNELS)
        whole("out_channels", self.out_channels, 1, MAX_IO_CHANNELS)
        whole("up_down_scale_factor", self.up_down_scale_factor, 1, 16)
        whole("embed_dim", self.embed_dim, 1, MAX_CHANNELS)
        # Each level halves the width: the narrowest level keeps at least one channel.
        whole("levels", self.levels, 1, MAX_LEVELS)
        if self.embed_dim >> (self.levels - 1) < 1:
            raise ConfigFieldError(
                "levels",
                self.levels,
                f"at most {self.embed_dim.bit_length()}, as each level halves embed_dim",
            )
        whole("bottleneck_blocks", self.bottleneck_blocks, 0, MAX_DEPTH)
        whole("latent_channels", self.latent_channels, 1, MAX_IO_CHANNELS)
        whole("num_vq_embeddings", self.num_vq_embeddings, 1, MAX_CODEBOOK)
        number("scale_factor", self.scale_factor, 0, 1000, above_low=True)


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
