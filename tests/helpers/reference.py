"""The reference: diffusers' deprecated WuerstchenCombinedPipeline, built from checkpoint folders in the Hub
layout. Each component is loaded with its own reference class from its folder, so a layout or key mismatch
in our checkpoints fails here as it would for anyone using the published files with diffusers.
(diffusers 0.42 no longer loads these repositories through DiffusionPipeline.from_pretrained.)"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any


def build_reference(prior_dir: Path, decoder_dir: Path) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from diffusers import DDPMWuerstchenScheduler, WuerstchenCombinedPipeline
        from diffusers.pipelines.deprecated.wuerstchen import (
            PaellaVQModel,
            WuerstchenDiffNeXt,
            WuerstchenPrior,
        )
    from transformers import CLIPTextModel, CLIPTokenizerFast

    def side(root: Path) -> dict[str, Any]:
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
