"""Tiny checkpoints whose CLIP text towers end like trained ones.

A freshly initialised CLIP text tower's final layer norm has bias 0, so every token's hidden state averages
to 0 and the whole tensor's mean is rounding noise. Trained towers have learned a bias, and A1111's emphasis
rescales to that mean: on the plain tiny towers the rescale would divide noise by noise. These repositories
give the final layer norm a random non-zero bias, as training would."""

from __future__ import annotations

from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from wuerstchen_desktop.testing import checkpoints

BIAS = "final_layer_norm.bias"  # transformers 5 writes the text model's keys without its prefix


def with_trained_mean(folder: Path, seed: int) -> None:
    """Give the text tower in ``folder`` (``text_encoder/``) a final layer norm bias of mean 0.2."""
    path = folder / "text_encoder" / "model.safetensors"
    state = load_file(str(path))
    g = torch.Generator().manual_seed(seed)
    noise = torch.randn(state[BIAS].shape, generator=g)
    state[BIAS] = 0.2 + 0.5 * (noise - noise.mean())
    save_file(state, str(path), metadata={"format": "pt"})


def write_repos(root: Path) -> tuple[Path, Path]:
    """A tiny prior and decoder repository pair (the Hub layout) with trained-like text towers."""
    prior = checkpoints.write_prior_repo(root / "wuerstchen-prior")
    decoder = checkpoints.write_decoder_repo(root / "wuerstchen")
    with_trained_mean(prior, 1)
    with_trained_mean(decoder, 2)
    return prior, decoder
