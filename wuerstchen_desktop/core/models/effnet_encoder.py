"""The image encoder of image-to-image: a picture to the Stage C latent the prior composes in.

It is ``EfficientNetEncoder`` of the Würstchen authors (``modules.py`` of ``dome272/Wuerstchen``; the
same class in diffusers' Würstchen training example, ``modeling_efficient_net_encoder.py``):
EfficientNetV2-S ``features`` (``backbone``), then a 1x1 convolution 1280 -> 16 without bias and a batch
norm (``mapper.0``, ``mapper.1``). The published weights are the ``effnet_state_dict`` entry of the
Stage B training checkpoint ``model_v2_stage_b.pt`` (Hub repository ``dome272/wuerstchen``), which both
load strictly into that class: the names here are the same, so they load strictly here too.

The input is the image resized to 32 x the Stage C latent size and normalised with ImageNet's mean and
standard deviation (``preprocess``); the output, ``(B, 16, h, w)``, becomes the latent the prior was
trained on as ``(encoder(x) + 1) / 42`` (``to_prior_space``).
"""

from __future__ import annotations

import torch
from torch import nn

from wuerstchen_desktop.core.models.efficientnet_v2 import (
    DOWNSAMPLE,
    FEATURES,
    V2_S,
    Stage,
    efficientnet_v2_features,
)

C_LATENT = 16
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class EffNetEncoder(nn.Module):
    """``(B, 3, 32h, 32w)`` normalised pixels to ``(B, c_latent, h, w)``, in eval mode always."""

    def __init__(
        self, c_latent: int = C_LATENT, stages: tuple[Stage, ...] = V2_S, c_features: int = FEATURES
    ) -> None:
        super().__init__()
        self.backbone = efficientnet_v2_features(stages, c_features)
        self.mapper = nn.Sequential(
            nn.Conv2d(c_features, c_latent, kernel_size=1, bias=False),
            nn.BatchNorm2d(c_latent),
        )
        self.eval()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.mapper(self.backbone(x))


def preprocess(pixels: torch.Tensor, latent_size: tuple[int, int]) -> torch.Tensor:
    """``(B, 3, H, W)`` RGB in [0, 1] to the encoder's input for a ``(h, w)`` Stage C latent: resized
    (bilinear, antialiased, as the authors' ``effnet_preprocess``) to ``32h x 32w``, then normalised."""
    if pixels.ndim != 4 or pixels.shape[1] != 3:
        raise ValueError(f"expected (B, 3, H, W) RGB pixels, got {tuple(pixels.shape)}")
    h, w = latent_size
    x = pixels.float()
    if tuple(x.shape[-2:]) != (h * DOWNSAMPLE, w * DOWNSAMPLE):
        x = nn.functional.interpolate(
            x, size=(h * DOWNSAMPLE, w * DOWNSAMPLE), mode="bilinear", antialias=True, align_corners=False
        )
    mean = torch.tensor(IMAGENET_MEAN, device=x.device).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, device=x.device).view(1, 3, 1, 1)
    return (x - mean) / std


def to_prior_space(encoded: torch.Tensor) -> torch.Tensor:
    """The encoder's output as the prior's sampler holds a latent: ``(x + 1) / 42``, the scaling the
    published prior was trained with (the pipeline's ``* 42 - 1`` undoes it)."""
    return encoded.add(1).div(42)


@torch.no_grad()
def encode_image(encoder: EffNetEncoder, pixels: torch.Tensor, latent_size: tuple[int, int]) -> torch.Tensor:
    """``(B, 3, H, W)`` RGB in [0, 1] to its ``(B, 16, h, w)`` Stage C latent in the prior's space, on the
    encoder's device and in its dtype."""
    weight = next(encoder.mapper.parameters())
    x = preprocess(pixels.to(weight.device), latent_size).to(weight.dtype)
    return to_prior_space(encoder(x))
