"""Stage A: the Paella VQGAN that turns the 4-channel latent into pixels (4x upsampling)."""

from __future__ import annotations

import torch
from torch import nn

from wuerstchen_desktop.core.models.config import StageAConfig


class MixingResidualBlock(nn.Module):
    """Depthwise then channelwise residual mixing, modulated by six learned scalars."""

    def __init__(self, inp_channels: int, embed_dim: int) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(inp_channels, elementwise_affine=False, eps=1e-6)
        self.depthwise = nn.Sequential(
            nn.ReplicationPad2d(1), nn.Conv2d(inp_channels, inp_channels, kernel_size=3, groups=inp_channels)
        )
        self.norm2 = nn.LayerNorm(inp_channels, elementwise_affine=False, eps=1e-6)
        self.channelwise = nn.Sequential(
            nn.Linear(inp_channels, embed_dim), nn.GELU(), nn.Linear(embed_dim, inp_channels)
        )
        self.gammas = nn.Parameter(torch.zeros(6))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        g = self.gammas
        x_temp = self.norm1(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2) * (1 + g[0]) + g[1]
        x = x + self.depthwise(x_temp) * g[2]
        x_temp = self.norm2(x.permute(0, 2, 3, 1)) * (1 + g[3]) + g[4]  # NHWC
        return x + self.channelwise(x_temp).permute(0, 3, 1, 2) * g[5]


class VectorQuantizer(nn.Module):
    """The codebook. Unused at inference (the decoder takes the continuous latent) but part of the file."""

    def __init__(self, num_embeddings: int, embed_dim: int) -> None:
        super().__init__()
        self.embedding = nn.Embedding(num_embeddings, embed_dim)


class StageA(nn.Module):
    def __init__(
        self,
        in_channels: int = 3,
        out_channels: int = 3,
        up_down_scale_factor: int = 2,
        levels: int = 2,
        bottleneck_blocks: int = 12,
        embed_dim: int = 384,
        latent_channels: int = 4,
        num_vq_embeddings: int = 8192,
        scale_factor: float = 0.3764,
    ) -> None:
        super().__init__()
        self.scale_factor = scale_factor
        self.upscale = up_down_scale_factor * 2 ** (levels - 1)  # latent to pixels
        # How far (in latent pixels) an output pixel sees: a 3x3 depthwise conv per mixing block, and at most
        # one latent pixel per transposed conv; every other layer is per-pixel (no global norm).
        self.halo = bottleneck_blocks + 2 * levels + 2
        c_levels = [embed_dim // (2**i) for i in reversed(range(levels))]

        self.in_block = nn.Sequential(
            nn.PixelUnshuffle(up_down_scale_factor),
            nn.Conv2d(in_channels * up_down_scale_factor**2, c_levels[0], kernel_size=1),
        )
        down: list[nn.Module] = []
        for i in range(levels):
            if i > 0:
                down.append(nn.Conv2d(c_levels[i - 1], c_levels[i], kernel_size=4, stride=2, padding=1))
            down.append(MixingResidualBlock(c_levels[i], c_levels[i] * 4))
        down.append(
            nn.Sequential(
                nn.Conv2d(c_levels[-1], latent_channels, kernel_size=1, bias=False),
                nn.BatchNorm2d(latent_channels),
            )
        )
        self.down_blocks = nn.Sequential(*down)
        self.vquantizer = VectorQuantizer(num_vq_embeddings, latent_channels)

        up: list[nn.Module] = [nn.Sequential(nn.Conv2d(latent_channels, c_levels[-1], kernel_size=1))]
        for i in range(levels):
            c = c_levels[levels - 1 - i]
            for _ in range(bottleneck_blocks if i == 0 else 1):
                up.append(MixingResidualBlock(c, c * 4))
            if i < levels - 1:
                up.append(nn.ConvTranspose2d(c, c_levels[levels - 2 - i], kernel_size=4, stride=2, padding=1))
        self.up_blocks = nn.Sequential(*up)
        self.out_block = nn.Sequential(
            nn.Conv2d(c_levels[0], out_channels * up_down_scale_factor**2, kernel_size=1),
            nn.PixelShuffle(up_down_scale_factor),
        )

    @classmethod
    def from_config(cls, config: StageAConfig) -> StageA:
        return cls(**config.to_json())

    def encode(self, image: torch.Tensor) -> torch.Tensor:
        """Pixels in [0, 1] to the unscaled latent."""
        return self.down_blocks(self.in_block(image))

    def decode(self, latent: torch.Tensor) -> torch.Tensor:
        """The unscaled latent to pixels (not clamped)."""
        return self.out_block(self.up_blocks(latent))

    def decode_tiled(self, latent: torch.Tensor, tile: int, halo: int | None = None) -> torch.Tensor:
        """``decode`` one image at a time, in ``tile``-latent-pixel tiles decoded with ``halo`` pixels of
        context: each tile's centre then sees what the whole decode sees, so the result equals it, while
        the activation peak follows the tile, not the image."""
        halo = self.halo if halo is None else halo
        b, _, h, w = latent.shape
        s = self.upscale
        out: torch.Tensor | None = None
        for i in range(b):
            for y0 in range(0, h, tile):
                for x0 in range(0, w, tile):
                    y1, x1 = min(y0 + tile, h), min(x0 + tile, w)
                    ya, xa = max(y0 - halo, 0), max(x0 - halo, 0)
                    part = self.decode(latent[i : i + 1, :, ya : min(y1 + halo, h), xa : min(x1 + halo, w)])
                    if out is None:
                        out = part.new_empty((b, part.shape[1], h * s, w * s))
                    # Keep only the tile's own pixels: (y0 - ya) latent rows of context above it.
                    out[i, :, y0 * s : y1 * s, x0 * s : x1 * s] = part[
                        0, :, (y0 - ya) * s : (y1 - ya) * s, (x0 - xa) * s : (x1 - xa) * s
                    ]
        assert out is not None
        return out
