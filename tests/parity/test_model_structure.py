"""The three stages at the published configs: parameter counts, key names and shapes equal the reference."""

from __future__ import annotations

import warnings

import pytest
import torch

from wuerstchen_desktop.core.models import StageA, StageAConfig, StageB, StageBConfig, StageC, StageCConfig


def reference_classes():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from diffusers.pipelines.deprecated.wuerstchen import (
            PaellaVQModel,
            WuerstchenDiffNeXt,
            WuerstchenPrior,
        )
    return WuerstchenPrior, WuerstchenDiffNeXt, PaellaVQModel


PUBLISHED = [
    (StageC, StageCConfig(), 0, 993_636_896, 648),
    (StageB, StageBConfig(), 1, 1_055_365_280, None),
    (StageA, StageAConfig(), 2, 18_406_894, None),
]


@pytest.mark.parametrize(
    ("cls", "config", "ref_index", "params", "tensors"), PUBLISHED, ids=["stage_c", "stage_b", "stage_a"]
)
def test_published_config_matches_reference(cls, config, ref_index, params, tensors) -> None:
    ref_cls = reference_classes()[ref_index]
    with torch.device("meta"):
        ours = cls.from_config(config)
        ref = ref_cls(**{k: list(v) if isinstance(v, tuple) else v for k, v in config.to_json().items()})
    assert sum(p.numel() for p in ours.parameters()) == params
    ours_shapes = {k: tuple(v.shape) for k, v in ours.state_dict().items()}
    ref_shapes = {k: tuple(v.shape) for k, v in ref.state_dict().items()}
    assert ours_shapes == ref_shapes
    if tensors is not None:
        assert len(ours_shapes) == tensors


def test_tiny_checkpoints_load_strictly_into_reference_classes(prior_dir, decoder_dir) -> None:
    """The tiny files are in the reference's key layout, so the parity tests compare like with like."""
    from safetensors.torch import load_file

    prior_cls, decoder_cls, vq_cls = reference_classes()
    for folder, ref_cls in [
        (prior_dir / "prior", prior_cls),
        (decoder_dir / "decoder", decoder_cls),
        (decoder_dir / "vqgan", vq_cls),
    ]:
        model = ref_cls.from_config(ref_cls.load_config(folder))
        model.load_state_dict(load_file(folder / "diffusion_pytorch_model.safetensors"), strict=True)
