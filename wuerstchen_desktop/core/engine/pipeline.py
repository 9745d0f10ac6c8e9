"""The Würstchen recipe: encode the prompt, Stage C, Stage B, Stage A.

Image ``i`` of a job seeded ``S`` draws all its noise from its own CPU generator seeded ``S + i``, in the
reference's order (prior start, each prior step, decoder start, each decoder step), so every image
regenerates alone from its own parameters and matches the reference diffusers pipeline seed for seed.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import torch
from torch import nn

from wuerstchen_desktop.core.engine.checkpoints import DecoderSource, PriorSource, verify_pair
from wuerstchen_desktop.core.engine.devices import dtype_name
from wuerstchen_desktop.core.engine.loading import load_stage
from wuerstchen_desktop.core.engine.residency import (
    MODES,
    Slot,
    checkpoint_params,
    free_device_memory,
    is_oom,
    step_down,
)
from wuerstchen_desktop.core.engine.results import (
    CancelCheck,
    GenerationResult,
    StepCallback,
    StepEvent,
    check_batchable,
    stored,
    to_pil,
)
from wuerstchen_desktop.core.engine.sampling import denoise
from wuerstchen_desktop.core.engine.schedule import WuerstchenSampler, prior_timesteps, uniform_timesteps
from wuerstchen_desktop.core.engine.text import TextEncoder
from wuerstchen_desktop.core.errors import Cancelled, InvalidParams, OutOfMemory
from wuerstchen_desktop.core.imagefile.imagefile import make_record
from wuerstchen_desktop.core.imagefile.metadata import Blend, ImageRecord
from wuerstchen_desktop.core.models import (
    Previewer,
    StageA,
    StageAConfig,
    StageB,
    StageBConfig,
    StageC,
    StageCConfig,
)
from wuerstchen_desktop.core.models.blocks import StepCache
from wuerstchen_desktop.core.params import GenerationParams, replaced_text_notes, stage_c_size

log = logging.getLogger(__name__)
T = TypeVar("T")
__all__ = ["GenerationResult", "Pipeline", "StepEvent", "checkpoint_params", "to_pil"]

STAGE_PRIOR = "prior"
STAGE_DECODER = "decoder"
STAGE_VQGAN = "vqgan"


class Pipeline:
    """Owns the five models and runs the recipe.

    ``memory`` is ``high`` (every model stays loaded between jobs), ``balanced`` (idle models wait in CPU
    RAM) or ``low`` (each model read from disk for its stage and freed after; tiled VQGAN decode). A stage
    that overflows in float16 is redone in ``fallback_dtype``, which that stage keeps from then on.
    ``compile`` runs each model through ``torch.compile`` (slow first job, faster steps after).
    """

    def __init__(
        self,
        prior: PriorSource,
        decoder: DecoderSource,
        device: torch.device | str = "cpu",
        dtype: torch.dtype = torch.float32,
        *,
        memory: str = "high",
        fallback_dtype: torch.dtype = torch.float32,
        compile: bool = False,
        vqgan_tile: int = 128,
    ) -> None:
        if memory not in MODES:
            raise InvalidParams(f"Unknown memory mode {memory!r}.", f"Choose one of {', '.join(MODES)}.")
        self.prior_source = prior
        self.decoder_source = decoder
        self.device = torch.device(device)
        self.dtype = dtype
        self.memory = memory
        self.fallback_dtype = fallback_dtype
        self.compile = compile
        self.vqgan_tile = vqgan_tile  # latent pixels per tile in low memory mode (512 image pixels)
        self.stage_dtypes: dict[str, torch.dtype] = {}  # stages moved off float16 by the NaN guard
        self._previewer_path: Path | None = None
        self._previewer: Previewer | None = None
        self._prior_text: TextEncoder | None = None
        self._decoder_text: TextEncoder | None = None
        root = decoder.root
        self._slots: dict[str, Slot] = {
            STAGE_PRIOR: Slot(
                STAGE_PRIOR,
                self._loader(STAGE_PRIOR, StageC, StageCConfig, prior.prior_dir),
                self.device,
                memory,
            ),
            STAGE_DECODER: Slot(
                STAGE_DECODER,
                self._loader(STAGE_DECODER, StageB, StageBConfig, root / "decoder"),
                self.device,
                memory,
            ),
            STAGE_VQGAN: Slot(
                STAGE_VQGAN,
                self._loader(STAGE_VQGAN, StageA, StageAConfig, root / "vqgan"),
                self.device,
                memory,
            ),
        }

    # -- models, loaded on first use --------------------------------------------------------------
    def _loader(
        self, stage: str, model_cls: type, config_cls: type, folder: Path
    ) -> Callable[[torch.device], nn.Module]:
        def load(device: torch.device) -> nn.Module:
            model: nn.Module = load_stage(model_cls, config_cls, folder, self.stage_dtype(stage), device)
            if self.compile:
                model.compile()
            return model

        return load

    def stage_dtype(self, stage: str) -> torch.dtype:
        return self.stage_dtypes.get(stage, self.dtype)

    @property
    def prior_text(self) -> TextEncoder:
        if self._prior_text is None:
            self._prior_text = TextEncoder(self.prior_source.text_root, self.dtype, self.device, self.memory)
        return self._prior_text

    @property
    def decoder_text(self) -> TextEncoder:
        if self._decoder_text is None:
            self._decoder_text = TextEncoder(self.decoder_source.root, self.dtype, self.device, self.memory)
        return self._decoder_text

    @property
    def prior(self) -> StageC:
        return self._slots[STAGE_PRIOR].get()

    @property
    def decoder(self) -> StageB:
        return self._slots[STAGE_DECODER].get()

    @property
    def vqgan(self) -> StageA:
        return self._slots[STAGE_VQGAN].get()

    def _all_slots(self) -> list[Slot]:
        texts = [t.slot for t in (self._prior_text, self._decoder_text) if t is not None]
        return [*texts, *self._slots.values()]

    def verify(self) -> None:
        """Find a missing, damaged or mismatched file now, from configs and headers, before any work."""
        verify_pair(self.prior_source, self.decoder_source)

    def load(self) -> None:
        """Load every model now rather than on first use (in low memory mode, only the tokenizers)."""
        for text in (self.prior_text, self.decoder_text):
            if self.memory != "low":
                text.slot.get()
                text.slot.done()
        if self.memory != "low":
            for slot in self._slots.values():
                slot.get()
                slot.done()

    def set_memory(self, memory: str) -> None:
        """Switch memory mode: every model is freed and reloaded by the new mode's rule when next used."""
        if memory not in MODES:
            raise InvalidParams(f"Unknown memory mode {memory!r}.", f"Choose one of {', '.join(MODES)}.")
        for slot in self._all_slots():
            slot.release()
            slot.mode = memory
        self.memory = memory
        free_device_memory(self.device)

    def loaded(self) -> list[str]:
        """Names of the models in memory now."""
        return [slot.name for slot in self._all_slots() if slot.loaded]

    def image_record(
        self,
        params: GenerationParams,
        stage_c: torch.Tensor,
        *,
        kind: str = "image",
        blend: Blend | None = None,
    ) -> ImageRecord:
        """What an image file records of how it was made: the job, the exact weights, its Stage C latent
        (and for a blend, the second composition)."""
        sha = self.prior_source.weights_sha256()
        return make_record(
            params,
            stage_c,
            prior_model=self.prior_source.ref,
            decoder_model=self.decoder_source.ref,
            prior_revision=self.prior_source.commit,
            decoder_revision=self.decoder_source.commit,
            model_hash=sha[:10] if sha else None,
            kind=kind,
            blend=blend,
        )

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

    # -- geometry ---------------------------------------------------------------------------------
    def stage_c_size(self, width: int, height: int) -> tuple[int, int]:
        """(height, width) of this prior's Stage C latent for an image of this size."""
        return stage_c_size(width, height, self.prior_source.resolution_multiple)

    def stage_b_size(self, stage_c_hw: tuple[int, int]) -> tuple[int, int]:
        s = self.decoder_source.latent_dim_scale
        return int(stage_c_hw[0] * s), int(stage_c_hw[1] * s)

    # -- the recipe -------------------------------------------------------------------------------
    def generate(
        self,
        jobs: GenerationParams | Sequence[GenerationParams],
        on_step: StepCallback | None = None,
        cancel: CancelCheck | None = None,
    ) -> GenerationResult:
        """Generate every image of ``jobs`` in one batch (the jobs must share size, steps and guidance)."""
        jobs = [jobs] if isinstance(jobs, GenerationParams) else list(jobs)
        check_batchable(jobs)
        warnings = self.prompt_warnings(jobs)
        return self.run(lambda: self._generate(jobs, on_step, cancel, warnings), warnings)

    def run(self, task: Callable[[], T], warnings: list[str]) -> T:
        """``task()`` under this pipeline's safety net: out of memory steps down one memory mode and
        retries once (noted in ``warnings``); a failed or cancelled task leaves nothing behind beyond the
        models the memory mode keeps."""
        for attempt in (1, 2):
            try:
                with torch.inference_mode():
                    return task()
            except BaseException as exc:
                self._clean_up(exc)
                lower = step_down(self.memory)
                if not is_oom(exc):
                    raise
                if attempt == 2 or lower is None:
                    raise OutOfMemory(
                        f"Not enough memory for this job, even in {self.memory} memory mode.",
                        "Close other programs, or choose a smaller size or fewer images.",
                    ) from exc
            note = f"Out of memory in {self.memory} memory mode: switched to {lower} memory and retried."
            log.warning(note)
            warnings.append(note)
            self.set_memory(lower)
        raise AssertionError("unreachable")

    def _clean_up(self, exc: BaseException) -> None:
        # The traceback's frames hold the job's tensors and models; the message and lines stay.
        traceback.clear_frames(exc.__traceback__)
        for slot in self._all_slots():
            slot.done()
        free_device_memory(self.device)

    def _generate(
        self,
        jobs: list[GenerationParams],
        on_step: StepCallback | None,
        cancel: CancelCheck | None,
        warnings: list[str],
    ) -> GenerationResult:
        generators = [
            torch.Generator("cpu").manual_seed(job.seed + i) for job in jobs for i in range(job.images)
        ]
        # 1-2. Encode the prompt for Stage C and compose the image in its latent.
        stage_c = self.run_prior(jobs, generators, on_step, cancel, warnings=warnings)
        # 3-4. Decode: Stage B to the VQGAN latent, Stage A to pixels.
        stage_b_input, stage_b_generators = decoder_inputs(stage_c, jobs, generators)
        pixels = self.run_decoder(stage_b_input, jobs, stage_b_generators, on_step, cancel, warnings=warnings)
        params = [job.for_image(i) for job in jobs for i in range(job.images)]
        return GenerationResult(to_pil(pixels), pixels, stage_c.float().cpu(), params, warnings)

    def prompt_warnings(self, jobs: Sequence[GenerationParams]) -> list[str]:
        texts = [t for job in jobs for t in (job.prompt, job.negative_prompt)]
        found = self.prior_text.truncations(texts) + self.decoder_text.truncations(texts)
        return list(dict.fromkeys([*replaced_text_notes(jobs), *(t.message() for t in found)]))

    def _noise(self, generators: Sequence[torch.Generator], shape: tuple[int, ...]) -> torch.Tensor:
        # Drawn in float32 on the CPU, image by image, then moved: a seed means the same image on every
        # device and in every precision.
        noise = [torch.randn((1, *shape), generator=g) for g in generators]
        return torch.cat(noise).to(self.device)

    def _embeddings(
        self, encoder: TextEncoder, jobs: Sequence[GenerationParams], negative: bool
    ) -> torch.Tensor:
        """One row per image: its job's prompt (or negative prompt), each distinct text encoded once."""
        texts = [job.negative_prompt if negative else job.prompt for job in jobs]
        unique = list(dict.fromkeys(texts))
        encoded = encoder.encode(unique)
        rows = [unique.index(text) for job, text in zip(jobs, texts, strict=True) for _ in range(job.images)]
        return encoded[torch.tensor(rows, device=encoded.device)]

    def _text(self, encoder: TextEncoder, jobs: Sequence[GenerationParams], cfg: bool) -> torch.Tensor:
        text = self._embeddings(encoder, jobs, negative=False)
        if cfg:
            text = torch.cat([text, self._embeddings(encoder, jobs, negative=True)])
        encoder.done()
        return text

    def _guarded(
        self,
        stage: str,
        run: Callable[..., torch.Tensor],
        args: tuple[object, ...],
        generators: Sequence[torch.Generator],
        warnings: list[str] | None,
    ) -> torch.Tensor:
        """``run(*args)``; if it overflowed in float16, redo it in the fallback precision, same noise.

        ``run`` is a method, not a closure: a failure's traceback then holds no model or tensor once
        ``generate`` has cleared its frames.
        """
        states = [g.get_state() for g in generators]
        slot = self._slots[stage]
        try:
            out = run(*args)
        finally:
            slot.done()
        if self.stage_dtype(stage) != torch.float16 or bool(torch.isfinite(out).all()):
            return out
        fallback = self.fallback_dtype
        note = f"The {stage} overflowed in float16; it was redone in {dtype_name(fallback)} and stays in it."
        log.warning(note)
        if warnings is not None:
            warnings.append(note)
        self.stage_dtypes[stage] = fallback
        slot.release()
        for g, state in zip(generators, states, strict=True):
            g.set_state(state)
        try:
            return run(*args)
        finally:
            slot.done()

    def _sample(
        self,
        stage: str,
        model: nn.Module,
        conditioning: tuple[object, ...],
        x: torch.Tensor,
        timesteps: torch.Tensor,
        guidance: float,
        generators: Sequence[torch.Generator],
        on_step: StepCallback | None,
        cancel: CancelCheck | None,
    ) -> torch.Tensor:
        src = self.decoder_source if stage == STAGE_DECODER else self.prior_source
        sampler = WuerstchenSampler(src.sampler.s, src.sampler.scaler)

        def noise(shape: tuple[int, ...]) -> torch.Tensor:
            return self._noise(generators, shape)

        loop = (sampler, self.stage_dtype(stage), noise, on_step, cancel)
        return denoise(stage, model, conditioning, x, timesteps, guidance, *loop)

    def run_prior(
        self,
        jobs: Sequence[GenerationParams],
        generators: Sequence[torch.Generator],
        on_step: StepCallback | None = None,
        cancel: CancelCheck | None = None,
        *,
        warnings: list[str] | None = None,
    ) -> torch.Tensor:
        """Stage C: the ``(B, 16, h, w)`` conditioning for the decoder, in float32."""
        job, src = jobs[0], self.prior_source
        text = self._text(self.prior_text, jobs, job.prior_guidance > 1)
        args = (job, text, generators, on_step, cancel)
        return (
            self._guarded(STAGE_PRIOR, self._prior, args, generators, warnings) * src.latent_mean
            - src.latent_std
        )

    def _prior(self, job: GenerationParams, text: torch.Tensor, *loop: Any) -> torch.Tensor:
        prior = self._slots[STAGE_PRIOR].get()
        x = self._noise(loop[0], (prior.c_in, *self.stage_c_size(job.width, job.height)))
        cache: StepCache = {}  # the text conditioning, mapped at the first step
        cond = (text.to(self.stage_dtype(STAGE_PRIOR)), cache)
        return self._sample(
            STAGE_PRIOR, prior, cond, x, prior_timesteps(job.prior_steps), job.prior_guidance, *loop
        )

    def run_decoder(
        self,
        stage_c: torch.Tensor,
        jobs: Sequence[GenerationParams],
        generators: Sequence[torch.Generator],
        on_step: StepCallback | None = None,
        cancel: CancelCheck | None = None,
        *,
        warnings: list[str] | None = None,
    ) -> torch.Tensor:
        """Stage B then Stage A: pixels ``(B, 3, H, W)`` in [0, 1], float32 on the CPU."""
        job = jobs[0]
        cfg = job.decoder_guidance > 1
        clip = self._text(self.decoder_text, jobs, cfg)
        effnet = stage_c.to(self.device, torch.float32)  # resized in float32 by the decoder
        if cfg:
            effnet = torch.cat([effnet, torch.zeros_like(effnet)])
        args = (job, effnet, clip, generators, on_step, cancel)
        z = self._guarded(STAGE_DECODER, self._decoder, args, generators, warnings)
        del effnet, clip
        if cancel is not None and cancel():
            raise Cancelled()
        pixels = self._guarded(STAGE_VQGAN, self._decode, (z,), [], warnings).clamp(0, 1)
        if on_step is not None:
            on_step(StepEvent(STAGE_VQGAN, 1, 1, pixels))
        return pixels.cpu()

    def _decoder(
        self, job: GenerationParams, effnet: torch.Tensor, clip: torch.Tensor, *loop: Any
    ) -> torch.Tensor:
        decoder = self._slots[STAGE_DECODER].get()
        z = self._noise(loop[0], (decoder.c_in, *self.stage_b_size((effnet.shape[2], effnet.shape[3]))))
        cache: StepCache = {}  # the resized Stage C latent and the text, mapped at the first step
        cond = (effnet, clip.to(self.stage_dtype(STAGE_DECODER)), cache)
        steps = uniform_timesteps(job.decoder_steps)
        return self._sample(STAGE_DECODER, decoder, cond, z, steps, job.decoder_guidance, *loop)

    def _decode(self, z: torch.Tensor) -> torch.Tensor:
        vqgan = self._slots[STAGE_VQGAN].get()
        latent = (z * vqgan.scale_factor).to(self.stage_dtype(STAGE_VQGAN))
        if self.memory == "low":
            return vqgan.decode_tiled(latent, self.vqgan_tile).float()
        return vqgan.decode(latent).float()


def decoder_inputs(
    stage_c: torch.Tensor, jobs: Sequence[GenerationParams], generators: list[torch.Generator]
) -> tuple[torch.Tensor, list[torch.Generator]]:
    """What Stage B starts from for each image. Without a decoder seed: the Stage C output and the image's
    generator, as the reference does. With one ("vary detail"): the composition as its file stores it
    (see ``stored``) and a generator seeded ``decoder_seed + i``, so the image is the same whether it is made
    again from its file or decoded from the stored latent without running Stage C."""
    if all(job.decoder_seed is None for job in jobs):
        return stage_c, generators
    stage_c = stage_c.clone()
    generators = list(generators)
    k = 0
    for job in jobs:
        for i in range(job.images):
            if job.decoder_seed is not None:
                stage_c[k] = stored(stage_c[k : k + 1])[0]
                generators[k] = torch.Generator("cpu").manual_seed(job.decoder_seed + i)
            k += 1
    return stage_c, generators
