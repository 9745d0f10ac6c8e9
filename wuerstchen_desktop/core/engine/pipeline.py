"""``Pipeline``: the five models (stage_models.py) and the recipe (recipe.py) behind one object.

``generate`` is compose then decode, as the reference's combined pipeline runs its prior pipeline then its
decoder pipeline, each image's generator carried from the one to the other. compose.py runs the halves on
their own: Stage C alone, and decoding stored compositions.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch

from wuerstchen_desktop.core.engine import recipe
from wuerstchen_desktop.core.engine.noise import decoder_generators, image_generators
from wuerstchen_desktop.core.engine.outputs import GenerationResult, to_pil
from wuerstchen_desktop.core.engine.progress import CancelCheck, Run, StepCallback
from wuerstchen_desktop.core.engine.stage_models import StageModels
from wuerstchen_desktop.core.models import Previewer
from wuerstchen_desktop.core.params import (
    GenerationParams,
    as_batch,
    per_image,
    replaced_text_notes,
)

__all__ = ["GenerationResult", "Pipeline", "to_pil"]


class Pipeline(StageModels):
    """Generates images from prompts; see ``StageModels`` for memory modes and precision."""

    _previewer_path: Path | None = None
    _previewer: Previewer | None = None

    def generate(
        self,
        jobs: GenerationParams | Sequence[GenerationParams],
        on_step: StepCallback | None = None,
        cancel: CancelCheck | None = None,
        start: recipe.Start | None = None,
    ) -> GenerationResult:
        """Every image of ``jobs`` in one batch (the jobs must share size, steps and guidance); from a
        picture's composition when ``start`` is given (image-to-image)."""
        batch = as_batch(jobs)
        images = per_image(batch)  # each image as the parameters that make it alone
        warnings = self.prompt_warnings(batch)

        def steps() -> tuple[torch.Tensor, torch.Tensor]:
            run = Run(image_generators(images), on_step, cancel, warnings)
            # 1-2. Compose: encode the prompt for Stage C, which settles each image in its small latent.
            stage_c = recipe.compose_latents(self, batch, run, start)
            # 3-5. Decode: encode the prompt for Stage B, which makes the VQGAN latent; Stage A, the pixels.
            decoder_input, decoding = recipe.decoder_start(stage_c, batch, run)
            return stage_c, recipe.decode_latents(self, decoder_input, batch, decoding)

        stage_c, pixels = self.run(steps, warnings)
        # 6. The images, each with its composition and its own parameters.
        return GenerationResult(to_pil(pixels), pixels, stage_c.float().cpu(), images, warnings)

    def upscale(
        self,
        params: GenerationParams,
        stage_c: torch.Tensor,
        pixels: torch.Tensor | None,
        on_step: StepCallback | None = None,
        cancel: CancelCheck | None = None,
    ) -> GenerationResult:
        """Upscale 2x (experimental): Stage B at ``params``' size, twice the composition ``stage_c``'s
        ``(1, 16, h, w)``, from the VQGAN latent of ``pixels`` (the picture already enlarged to that size,
        ``(1, 3, H, W)`` in [0, 1]) noised to ``params.strength``, with noise seeded by the decoder seed.
        Strength 1 needs no pixels: it decodes the composition at twice its size from noise alone."""
        images = as_batch(params)
        if params.upscale < 2 or params.decoder_seed is None or params.images != 1:
            raise ValueError("an upscale is one image with a decoder seed")
        warnings = self.prompt_warnings(images)

        def steps() -> torch.Tensor:
            run = Run(decoder_generators(images), on_step, cancel, warnings)
            start = None
            if params.strength < 1:
                if pixels is None:
                    raise ValueError("an upscale below strength 1 starts from the picture's pixels")
                start = recipe.Start(recipe.vqgan_latent(self, pixels, run), params.strength)
            return recipe.decode_latents(self, stage_c, images, run, start)

        out = self.run(steps, warnings)
        return GenerationResult(to_pil(out), out, stage_c.float().cpu(), images, warnings)

    def prompt_warnings(self, jobs: Sequence[GenerationParams]) -> list[str]:
        """What the job should be told about its prompts: replaced bytes, words past the 77 tokens."""
        found = [
            found
            for encoder in (self.prior_text, self.decoder_text)
            for job in jobs
            for found in encoder.truncations((job.prompt, job.negative_prompt), job.weighting)
        ]
        return list(dict.fromkeys([*replaced_text_notes(jobs), *(t.message() for t in found)]))

    # -- previews ---------------------------------------------------------------------------------
    @property
    def previewer_path(self) -> Path | None:
        """The Stage C previewer's safetensors file (see live_preview.py); None: approximate previews."""
        return self._previewer_path

    @previewer_path.setter
    def previewer_path(self, path: Path | None) -> None:
        self._previewer_path, self._previewer = path, None

    @property
    def previews_approximate(self) -> bool:
        """True when previews come from the cheap approximation (no previewer network installed)."""
        return self.previewer_path is None

    @torch.inference_mode()
    def preview(self, latents: torch.Tensor) -> torch.Tensor:
        """RGB previews ``(B, 3, 4h, 4w)`` in [0, 1], float32 on the CPU, of Stage C latents in the prior
        sampler's space (a step's ``denoised`` estimate, or ``prior_space`` of a finished latent)."""
        from wuerstchen_desktop.core.engine.live_preview import load_previewer, preview_pixels

        if self.previewer_path is not None and self._previewer is None:
            self._previewer = load_previewer(self.previewer_path, self.device, self.dtype)
        return preview_pixels(latents, self._previewer)

    def prior_space(self, stage_c: torch.Tensor) -> torch.Tensor:
        """A finished Stage C latent (the decoder's conditioning) back in the prior sampler's space."""
        src = self.prior_source
        return (stage_c.float() + src.latent_std) / src.latent_mean
