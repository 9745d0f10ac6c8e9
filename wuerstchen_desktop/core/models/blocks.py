"""Blocks shared by Stage C and Stage B.

Attribute names equal the published checkpoints' key names, so their state dicts load with strict keys.
Tensors are NCHW between blocks; the channel MLPs work channels-last.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

# Per-job values that do not change over the denoising loop (mapped text, resized conditioning).
StepCache = dict[object, torch.Tensor]


class ChannelLayerNorm(nn.LayerNorm):
    """LayerNorm over the channels of an NCHW tensor."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


def channel_norm(c: int) -> ChannelLayerNorm:
    return ChannelLayerNorm(c, elementwise_affine=False, eps=1e-6)


class GlobalResponseNorm(nn.Module):
    """ConvNeXt-V2 global response normalisation, channels-last."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.gamma = nn.Parameter(torch.zeros(1, 1, 1, dim))
        self.beta = nn.Parameter(torch.zeros(1, 1, 1, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        agg_norm = torch.norm(x, p=2, dim=(1, 2), keepdim=True)
        stand_div_norm = agg_norm / (agg_norm.mean(dim=-1, keepdim=True) + 1e-6)
        return self.gamma * (x * stand_div_norm) + self.beta + x


def channel_mlp(c_in: int, c: int, dropout: float) -> nn.Sequential:
    return nn.Sequential(
        nn.Linear(c_in, c * 4), nn.GELU(), GlobalResponseNorm(c * 4), nn.Dropout(dropout), nn.Linear(c * 4, c)
    )


class ResBlock(nn.Module):
    """Stage C residual block: the skip joins before the depthwise convolution."""

    def __init__(self, c: int, c_skip: int = 0, kernel_size: int = 3, dropout: float = 0.0) -> None:
        super().__init__()
        self.depthwise = nn.Conv2d(c + c_skip, c, kernel_size=kernel_size, padding=kernel_size // 2, groups=c)
        self.norm = channel_norm(c)
        self.channelwise = channel_mlp(c, c, dropout)

    def forward(self, x: torch.Tensor, x_skip: torch.Tensor | None = None) -> torch.Tensor:
        x_res = x
        if x_skip is not None:
            x = torch.cat([x, x_skip], dim=1)
        x = self.norm(self.depthwise(x)).permute(0, 2, 3, 1)  # NHWC
        return self.channelwise(x).permute(0, 3, 1, 2) + x_res


class ResBlockStageB(nn.Module):
    """Stage B residual block: the skip joins after the depthwise convolution, in the channel MLP."""

    def __init__(self, c: int, c_skip: int = 0, kernel_size: int = 3, dropout: float = 0.0) -> None:
        super().__init__()
        self.depthwise = nn.Conv2d(c, c, kernel_size=kernel_size, padding=kernel_size // 2, groups=c)
        self.norm = channel_norm(c)
        self.channelwise = channel_mlp(c + c_skip, c, dropout)

    def forward(self, x: torch.Tensor, x_skip: torch.Tensor | None = None) -> torch.Tensor:
        x_res = x
        x = self.norm(self.depthwise(x))
        if x_skip is not None:
            x = torch.cat([x, x_skip], dim=1)
        # A contiguous NHWC input keeps the Linear on its GEMM path; bf16 on CPU otherwise copies the weight.
        return self.channelwise(x.permute(0, 2, 3, 1).contiguous()).permute(0, 3, 1, 2) + x_res


class TimestepBlock(nn.Module):
    """Scale and shift from the timestep embedding."""

    def __init__(self, c: int, c_timestep: int) -> None:
        super().__init__()
        self.mapper = nn.Linear(c_timestep, c * 2)

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        a, b = self.mapper(t)[:, :, None, None].chunk(2, dim=1)
        return x * (1 + a) + b


class Attention(nn.Module):
    """Multi-head attention on scaled-dot-product kernels; keys ``to_q``, ``to_k``, ``to_v``, ``to_out.0``."""

    def __init__(self, c: int, nhead: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.nhead = nhead
        self.to_q = nn.Linear(c, c)
        self.to_k = nn.Linear(c, c)
        self.to_v = nn.Linear(c, c)
        self.to_out = nn.ModuleList([nn.Linear(c, c), nn.Dropout(dropout)])

    def forward(self, x: torch.Tensor, kv: torch.Tensor) -> torch.Tensor:
        b, n, c = x.shape
        h = self.nhead
        q = self.to_q(x).view(b, n, h, c // h).transpose(1, 2)  # B, heads, N, C/heads
        k = self.to_k(kv).view(b, kv.shape[1], h, c // h).transpose(1, 2)
        v = self.to_v(kv).view(b, kv.shape[1], h, c // h).transpose(1, 2)
        out = F.scaled_dot_product_attention(q, k, v)
        out = out.transpose(1, 2).reshape(b, n, c)
        return self.to_out[1](self.to_out[0](out))


class AttnBlock(nn.Module):
    """Self-attention over the pixels with the text tokens appended to the keys and values."""

    def __init__(self, c: int, c_cond: int, nhead: int, self_attn: bool = True, dropout: float = 0.0) -> None:
        super().__init__()
        self.self_attn = self_attn
        self.norm = channel_norm(c)
        self.attention = Attention(c, nhead, dropout=dropout)
        self.kv_mapper = nn.Sequential(nn.SiLU(), nn.Linear(c_cond, c))

    def forward(self, x: torch.Tensor, kv: torch.Tensor, cache: StepCache | None = None) -> torch.Tensor:
        # The text side is the same at every denoising step: map it once per job when given a cache.
        mapped = cache.get(self) if cache is not None else None
        if mapped is None:
            mapped = self.kv_mapper(kv)
            if cache is not None:
                cache[self] = mapped
        kv = mapped
        b, c, h, w = x.shape
        norm_x = self.norm(x).view(b, c, h * w).transpose(1, 2)  # B, HW, C
        if self.self_attn:
            kv = torch.cat([norm_x, kv], dim=1)
        out = self.attention(norm_x, kv)
        return x + out.transpose(1, 2).reshape(b, c, h, w)


def timestep_embedding(r: torch.Tensor, c_r: int, max_positions: int = 10000) -> torch.Tensor:
    """Sinusoidal embedding of the continuous timestep ``r`` in [0, 1]: ``[sin, cos]``, ``c_r`` dims."""
    r = r * max_positions
    half_dim = c_r // 2
    emb = math.log(max_positions) / (half_dim - 1)
    freqs = torch.arange(half_dim, device=r.device).float().mul(-emb).exp()
    args = r[:, None] * freqs[None, :]
    out = torch.cat([args.sin(), args.cos()], dim=1)
    if c_r % 2 == 1:
        out = F.pad(out, (0, 1), mode="constant")
    return out.to(dtype=r.dtype)
