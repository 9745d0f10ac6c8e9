"""Stage B: the diffusion decoder from the Stage C latent to the 4-channel VQGAN latent."""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

import torch
import torch.nn.functional as F
from torch import nn

from wuerstchen_desktop.core.models.blocks import (
    AttnBlock,
    ResBlockStageB,
    StepCache,
    TimestepBlock,
    channel_norm,
    timestep_embedding,
)
from wuerstchen_desktop.core.models.config import StageBConfig


class StageB(nn.Module):
    """A U-Net over ``len(c_hidden)`` levels. Each level's blocks follow ``level_config`` (C: residual with
    the Stage C latent injected, T: timestep, A: attention to the text). Up-path first blocks take the
    down-path skip. Returns ``eps = (x - a) / (sigmoid(b) * (1 - 2e-3) + 1e-3)``.
    """

    def __init__(
        self,
        c_in: int = 4,
        c_out: int = 4,
        c_r: int = 64,
        patch_size: int = 2,
        c_cond: int = 1024,
        c_hidden: Sequence[int] = (320, 640, 1280, 1280),
        nhead: Sequence[int] = (-1, 10, 20, 20),
        blocks: Sequence[int] = (4, 4, 14, 4),
        level_config: Sequence[str] = ("CT", "CTA", "CTA", "CTA"),
        inject_effnet: Sequence[bool] = (False, True, True, True),
        effnet_embd: int = 16,
        clip_embd: int = 1024,
        kernel_size: int = 3,
        dropout: float | Sequence[float] = 0.1,
    ) -> None:
        super().__init__()
        self.c_in = c_in
        self.c_r = c_r
        levels = len(c_hidden)
        drop = list(dropout) if isinstance(dropout, Sequence) else [dropout] * levels

        self.clip_mapper = nn.Linear(clip_embd, c_cond)
        injects = list(inject_effnet) + list(reversed(inject_effnet))
        # Levels without injection hold None, so the published key indices line up.
        mappers: list[nn.Module | None] = [
            nn.Conv2d(effnet_embd, c_cond, kernel_size=1) if inject else None for inject in injects
        ]
        self.effnet_mappers = nn.ModuleList(mappers)  # type: ignore[arg-type]
        self.seq_norm = nn.LayerNorm(c_cond, elementwise_affine=False, eps=1e-6)
        self.embedding = nn.Sequential(
            nn.PixelUnshuffle(patch_size),
            nn.Conv2d(c_in * patch_size**2, c_hidden[0], kernel_size=1),
            channel_norm(c_hidden[0]),
        )

        def block(kind: str, level: int, c_skip: int) -> nn.Module:
            c = c_hidden[level]
            if kind == "C":
                return ResBlockStageB(c, c_skip, kernel_size=kernel_size, dropout=drop[level])
            if kind == "A":
                return AttnBlock(c, c_cond, nhead[level], self_attn=True, dropout=drop[level])
            if kind == "T":
                return TimestepBlock(c, c_r)
            raise ValueError(f"unknown block type {kind!r}")

        self.down_blocks = nn.ModuleList()
        for i in range(levels):
            down = nn.ModuleList()
            if i > 0:
                down.append(
                    nn.Sequential(
                        channel_norm(c_hidden[i - 1]),
                        nn.Conv2d(c_hidden[i - 1], c_hidden[i], kernel_size=2, stride=2),
                    )
                )
            for _ in range(blocks[i]):
                for kind in level_config[i]:
                    down.append(block(kind, i, c_cond if inject_effnet[i] else 0))
            self.down_blocks.append(down)

        self.up_blocks = nn.ModuleList()
        for i in reversed(range(levels)):
            up = nn.ModuleList()
            for j in range(blocks[i]):
                for k, kind in enumerate(level_config[i]):
                    c_skip = c_hidden[i] if i < levels - 1 and j == k == 0 else 0
                    c_skip += c_cond if inject_effnet[i] else 0
                    up.append(block(kind, i, c_skip))
            if i > 0:
                up.append(
                    nn.Sequential(
                        channel_norm(c_hidden[i]),
                        nn.ConvTranspose2d(c_hidden[i], c_hidden[i - 1], kernel_size=2, stride=2),
                    )
                )
            self.up_blocks.append(up)

        self.clf = nn.Sequential(
            channel_norm(c_hidden[0]),
            nn.Conv2d(c_hidden[0], 2 * c_out * patch_size**2, kernel_size=1),
            nn.PixelShuffle(patch_size),
        )

    @classmethod
    def from_config(cls, config: StageBConfig) -> StageB:
        return cls(**config.to_json())

    def _effnet_condition(
        self, index: int, effnet: torch.Tensor, size: torch.Size, cache: StepCache | None
    ) -> torch.Tensor | None:
        mapper = self.effnet_mappers[index]
        if mapper is None:
            return None
        key = ("effnet", index, tuple(size))
        if cache is not None and key in cache:
            return cache[key]
        # Resized in float32 as in training: bicubic, antialiased, corner-aligned.
        resized = F.interpolate(effnet.float(), size=size, mode="bicubic", antialias=True, align_corners=True)
        out = mapper(resized.to(cast(nn.Conv2d, mapper).weight.dtype))
        if cache is not None:
            cache[key] = out
        return out

    def forward(
        self,
        x: torch.Tensor,
        r: torch.Tensor,
        effnet: torch.Tensor,
        clip: torch.Tensor,
        cache: StepCache | None = None,
    ) -> torch.Tensor:
        """``cache``: an empty dict per job; the Stage C and text conditioning, constant over the loop,
        are then computed at the first step only."""
        r_embed = timestep_embedding(r, self.c_r).to(x.dtype)
        mapped = cache.get("clip") if cache is not None else None
        if mapped is None:
            mapped = self.seq_norm(self.clip_mapper(clip))
            if cache is not None:
                cache["clip"] = mapped
        clip = mapped
        x_in = x
        x = self.embedding(x)

        skips: list[torch.Tensor] = []
        for i, down in enumerate(cast(Sequence[nn.ModuleList], self.down_blocks)):
            effnet_c: torch.Tensor | None = None
            for blk in down:
                if isinstance(blk, ResBlockStageB):
                    if effnet_c is None:
                        effnet_c = self._effnet_condition(i, effnet, x.shape[-2:], cache)
                    x = blk(x, effnet_c)
                elif isinstance(blk, AttnBlock):
                    x = blk(x, clip, cache)
                elif isinstance(blk, TimestepBlock):
                    x = blk(x, r_embed)
                else:
                    x = blk(x)
            skips.insert(0, x)

        x = skips[0]
        for i, up in enumerate(cast(Sequence[nn.ModuleList], self.up_blocks)):
            effnet_c = None
            for j, blk in enumerate(up):
                if isinstance(blk, ResBlockStageB):
                    if effnet_c is None:
                        level = len(self.down_blocks) + i
                        effnet_c = self._effnet_condition(level, effnet, x.shape[-2:], cache)
                    skip = skips[i] if j == 0 and i > 0 else None
                    if effnet_c is not None:
                        skip = effnet_c if skip is None else torch.cat([skip, effnet_c], dim=1)
                    x = blk(x, skip)
                elif isinstance(blk, AttnBlock):
                    x = blk(x, clip, cache)
                elif isinstance(blk, TimestepBlock):
                    x = blk(x, r_embed)
                else:
                    x = blk(x)

        a, b = self.clf(x).chunk(2, dim=1)
        b = b.sigmoid() * (1 - 2e-3) + 1e-3
        return (x_in - a) / b
