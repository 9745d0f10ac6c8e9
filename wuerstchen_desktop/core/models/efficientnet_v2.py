"""EfficientNetV2-S ``features``: the convolutional backbone of the image encoder, for inference.

The layout and every module name are torchvision's (``torchvision/models/efficientnet.py``,
``efficientnet_v2_s``, and ``Conv2dNormActivation``/``SqueezeExcitation`` of ``torchvision/ops/misc.py``),
so a state dict saved from ``torchvision.models.efficientnet_v2_s().features`` loads strictly:
``0`` is the stem, ``1`` to ``6`` the stages (``<stage>.<block>.block.<layer>``), ``7`` the 1x1 head
convolution to 1280 channels. Batch norm uses eps 1e-3 as torchvision's V2 models do, always with its
running statistics; there is no stochastic depth (it is the identity at inference). torchvision itself is
not a dependency: its compiled operators do not load beside every torch build the app supports.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

BN_EPS = 1e-3  # torchvision's efficientnet_v2_* builders: partial(nn.BatchNorm2d, eps=1e-03)
FEATURES = 1280  # channels out of the head convolution (``last_channel``)
DOWNSAMPLE = 32  # the stem and four stages halve the size: an image of 32h x 32w gives h x w features


@dataclass(frozen=True)
class Stage:
    """One row of Table 4 of the EfficientNetV2 paper, as torchvision's ``_efficientnet_conf`` lists it."""

    fused: bool  # Fused-MBConv (one full 3x3 convolution) or MBConv (1x1, depthwise 3x3, SE, 1x1)
    expand_ratio: int
    stride: int
    c_in: int
    c_out: int
    layers: int
    kernel: int = 3


V2_S: tuple[Stage, ...] = (
    Stage(True, 1, 1, 24, 24, 2),
    Stage(True, 4, 2, 24, 48, 4),
    Stage(True, 4, 2, 48, 64, 4),
    Stage(False, 4, 2, 64, 128, 6),
    Stage(False, 6, 1, 128, 160, 9),
    Stage(False, 6, 2, 160, 256, 15),
)


def make_divisible(value: float, divisor: int = 8) -> int:
    """Round a channel count to a multiple of ``divisor``, never below 90% of it (as torchvision does)."""
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * value else rounded


class ConvNormAct(nn.Sequential):
    """Convolution without bias, batch norm, then SiLU unless ``act`` is False: ``0``, ``1`` (, ``2``)."""

    def __init__(
        self, c_in: int, c_out: int, kernel: int = 1, stride: int = 1, groups: int = 1, act: bool = True
    ) -> None:
        layers: list[nn.Module] = [
            nn.Conv2d(c_in, c_out, kernel, stride, padding=(kernel - 1) // 2, groups=groups, bias=False),
            nn.BatchNorm2d(c_out, eps=BN_EPS),
        ]
        if act:
            layers.append(nn.SiLU())
        super().__init__(*layers)


class SqueezeExcitation(nn.Module):
    """Channel gates from the global mean: ``fc1`` (squeeze), SiLU, ``fc2``, sigmoid, times the input."""

    def __init__(self, channels: int, squeeze: int) -> None:
        super().__init__()
        self.fc1 = nn.Conv2d(channels, squeeze, 1)
        self.fc2 = nn.Conv2d(squeeze, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scale = nn.functional.adaptive_avg_pool2d(x, 1)  # (B, C, 1, 1)
        scale = self.fc2(nn.functional.silu(self.fc1(scale)))
        return x * torch.sigmoid(scale)


class FusedMBConv(nn.Module):
    """A full ``kernel`` convolution that expands (or maps straight to ``c_out`` at ratio 1), then a
    1x1 projection; a residual where the shape is kept."""

    def __init__(self, c_in: int, c_out: int, expand_ratio: int, stride: int, kernel: int) -> None:
        super().__init__()
        hidden = make_divisible(c_in * expand_ratio)
        if hidden != c_in:
            layers: list[nn.Module] = [
                ConvNormAct(c_in, hidden, kernel, stride),
                ConvNormAct(hidden, c_out, act=False),
            ]
        else:
            layers = [ConvNormAct(c_in, c_out, kernel, stride)]
        self.block = nn.Sequential(*layers)
        self.residual = stride == 1 and c_in == c_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.block(x)
        return out + x if self.residual else out


class MBConv(nn.Module):
    """1x1 expansion, depthwise ``kernel`` convolution, squeeze-excitation (to a quarter of ``c_in``),
    1x1 projection; a residual where the shape is kept."""

    def __init__(self, c_in: int, c_out: int, expand_ratio: int, stride: int, kernel: int) -> None:
        super().__init__()
        hidden = make_divisible(c_in * expand_ratio)
        layers: list[nn.Module] = []
        if hidden != c_in:
            layers.append(ConvNormAct(c_in, hidden))
        layers += [
            ConvNormAct(hidden, hidden, kernel, stride, groups=hidden),
            SqueezeExcitation(hidden, max(1, c_in // 4)),
            ConvNormAct(hidden, c_out, act=False),
        ]
        self.block = nn.Sequential(*layers)
        self.residual = stride == 1 and c_in == c_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.block(x)
        return out + x if self.residual else out


def efficientnet_v2_features(stages: tuple[Stage, ...] = V2_S, c_out: int = FEATURES) -> nn.Sequential:
    """``(B, 3, 32h, 32w)`` normalised pixels to ``(B, c_out, h, w)`` features: torchvision's
    ``efficientnet_v2_s().features`` for the default arguments (20.18 M parameters)."""
    layers: list[nn.Module] = [ConvNormAct(3, stages[0].c_in, 3, stride=2)]
    for stage in stages:
        kind = FusedMBConv if stage.fused else MBConv
        blocks = [
            kind(
                stage.c_in if i == 0 else stage.c_out,
                stage.c_out,
                stage.expand_ratio,
                stage.stride if i == 0 else 1,
                stage.kernel,
            )
            for i in range(stage.layers)
        ]
        layers.append(nn.Sequential(*blocks))
    layers.append(ConvNormAct(stages[-1].c_out, c_out))
    return nn.Sequential(*layers)
