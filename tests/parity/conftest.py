"""The reference: diffusers' deprecated Würstchen pipelines, built from the same tiny checkpoint folders.

Each component is loaded with its own reference class from its folder, so a layout or key mismatch in
our checkpoints fails here as it would for anyone using the published files with diffusers.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

pytestmark = pytest.mark.parity


@pytest.fixture(scope="session")
def reference(prior_dir: Path, decoder_dir: Path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from diffusers import DDPMWuerstchenScheduler, WuerstchenCombinedPipeline
        from diffusers.pipelines.deprecated.wuerstchen import (
            PaellaVQModel,
            WuerstchenDiffNeXt,
            WuerstchenPrior,
        )
    from transformers import CLIPTextModel, CLIPTokenizerFast

    def side(root: Path) -> dict:
        return {
            "tokenizer": CLIPTokenizerFast.from_pretrained(root / "tokenizer"),
            "text_encoder": CLIPTextModel.from_pretrained(root / "text_encoder"),
            "scheduler": DDPMWuerstchenScheduler.from_pretrained(root / "scheduler"),
        }

    prior = side(prior_dir)
    pipe = WuerstchenCombinedPipeline(
        **side(decoder_dir),
        decoder=WuerstchenDiffNeXt.from_pretrained(decoder_dir / "decoder"),
        vqgan=PaellaVQModel.from_pretrained(decoder_dir / "vqgan"),
        prior_prior=WuerstchenPrior.from_pretrained(prior_dir / "prior"),
        prior_tokenizer=prior["tokenizer"],
        prior_text_encoder=prior["text_encoder"],
        prior_scheduler=prior["scheduler"],
    )
    pipe.set_progress_bar_config(disable=True)
    return pipe
