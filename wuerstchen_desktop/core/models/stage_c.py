"""Stage C: the text-conditional prior that composes the image in a 16-channel latent."""

from __future__ import annotations

import torch
from torch import nn

from wuerstchen_desktop.core.models.blocks import (
    AttnBlock,
    ResBlock,
    StepCache,
    TimestepBlock,
    channel_norm,
    timestep_embedding,
)
from wuerstchen_desktop.core.models.config import StageCConfig


class StageC(nn.Module):
    """``depth`` triplets of (ResBlock, TimestepBlock, AttnBlock) at one resolution.

    Returns the noise prediction ``eps = (x - a) / (|1 - b| + 1e-5)``.
    """

    def __init__(
        self,
        c_in: int = 16,
        c: int = 1536,
        c_cond: int = 1280,
        c_r: int = 64,
        depth: int = 32,
        nhead: int = 24,
        dropout: float = 0.1,
    ) -> None:
        super().__init__()
        self.c_in = c_in
        self.c_r = c_r
        self.projection = nn.Conv2d(c_in, c, kernel_size=1)
        self.cond_mapper = nn.Sequential(nn.Linear(c_cond, c), nn.LeakyReLU(0.2), nn.Linear(c, c))
        self.blocks = nn.ModuleList()
        for _ in range(depth):
            self.blocks.append(ResBlock(c, dropout=dropout))
            self.blocks.append(TimestepBlock(c, c_r))
            self.blocks.append(AttnBlock(c, c, nhead, self_attn=True, dropout=dropout))
        self.out = nn.Sequential(channel_norm(c), nn.Conv2d(c, c_in * 2, kernel_size=1))

    @classmethod
    def from_config(cls, config: StageCConfig) -> StageC:
        return cls(**config.to_json())

    def forward(
        self, x: torch.Tensor, r: torch.Tensor, c: torch.Tensor, cache: StepCache | None = None
    ) -> torch.Tensor:
        """``cache``: an empty dict per job; the text conditioning is then computed at the first step only."""
        x_in = x
        x = self.projection(x)
        c_embed = cache.get("c") if cache is not None else None
        if c_embed is None:
            c_embed = self.cond_mapper(c)
            if cache is not None:
                cache["c"] = c_embed
        r_embed = timestep_embedding(r, self.c_r).to(x_in.dtype)
        for block in self.blocks:
            if isinstance(block, AttnBlock):
                x = block(x, c_embed, cache)
            elif isinstance(block, TimestepBlock):
                x = block(x, r_embed)
            else:
                x = block(x)
        a, b = self.out(x).chunk(2, dim=1)
        return (x_in - a) / ((1 - b).abs() + 1e-5)
