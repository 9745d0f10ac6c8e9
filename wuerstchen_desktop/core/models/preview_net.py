"""The Stage C previewer: a small convolutional net from a Stage C latent to a rough RGB image.

It is the network the official Würstchen demo (the ``warp-ai/Wuerstchen`` Space, its
``previewer/modules.py``) uses for its live previews. It takes a latent in the prior sampler's space
(before the pipeline's ``* 42 - 1`` rescale), ``(B, 16, h, w)``, and gives ``(B, 3, 4h, 4w)`` with values
near [0, 1] (a 24x24 latent, 1024x1024 pixels, gives a 96x96 preview): two 2x transposed convolutions
upsample it, each surrounded by convolutions, every one followed by GELU and batch norm (used with its
running statistics: the module is always in eval mode). Tensor names follow the published checkpoint
(``blocks.<index>.<name>``, 19 modules), so its state dict loads strictly. Stable Cascade's previewer
(three upsamplings, 8x) is another net.
"""

from __future__ import annotations

import torch
from torch import nn

PREVIEWER_C_IN = 16
PREVIEWER_C_OUT = 3
PREVIEWER_C_HIDDEN = 512  # the published checkpoint


def _act_norm(channels: int) -> list[nn.Module]:
    return [nn.GELU(), nn.BatchNorm2d(channels)]


class Previewer(nn.Module):
    """``(B, c_in, h, w)`` Stage C latent to ``(B, c_out, 4h, 4w)`` preview pixels, roughly in [0, 1]."""

    def __init__(
        self, c_in: int = PREVIEWER_C_IN, c_hidden: int = PREVIEWER_C_HIDDEN, c_out: int = PREVIEWER_C_OUT
    ) -> None:
        super().__init__()
        if c_hidden < 4 or c_hidden % 4:
            raise ValueError(f"c_hidden must be a positive multiple of 4, not {c_hidden}")
        self.c_in, self.c_hidden, self.c_out = c_in, c_hidden, c_out
        half, quarter = c_hidden // 2, c_hidden // 4
        layers: list[nn.Module] = [
            nn.Conv2d(c_in, c_hidden, kernel_size=1),
            *_act_norm(c_hidden),
            nn.Conv2d(c_hidden, c_hidden, kernel_size=3, padding=1),
            *_act_norm(c_hidden),
            # 2x
            nn.ConvTranspose2d(c_hidden, half, kernel_size=2, stride=2),
            *_act_norm(half),
            nn.Conv2d(half, half, kernel_size=3, padding=1),
            *_act_norm(half),
            # 4x
            nn.ConvTranspose2d(half, quarter, kernel_size=2, stride=2),
            *_act_norm(quarter),
            nn.Conv2d(quarter, quarter, kernel_size=3, padding=1),
            *_act_norm(quarter),
            nn.Conv2d(quarter, c_out, kernel_size=1),
        ]
        self.blocks = nn.Sequential(*layers)
        self.eval()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.blocks(x)
