"""The Würstchen recipe: encode the prompt, Stage C, Stage B, Stage A.

Image ``i`` of a job seeded ``S`` draws all its noise from its own CPU generator seeded ``S + i``, in the
reference's order (prior start, each prior step, decoder start, each decoder step), so every image
regenerates alone from its own parameters and matches the reference diffusers pipeline seed for seed.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch
from PIL import Image

from wuerstchen_desktop.core.checkpoints import DecoderSource, PriorSource
from wuerstchen_desktop.core.errors import Cancelled, InvalidParams
from wuerstchen_desktop.core.imagefile import make_record
from wuerstchen_desktop.core.loading import check_stage, load_stage
from wuerstchen_desktop.core.metadata import ImageRecord
from wuerstchen_desktop.core.models import StageA, StageAConfig, StageB, StageBConfig, StageC, StageCConfig
from wuerstchen_desktop.core.params import GenerationParams
from wuerstchen_desktop.core.schedule import WuerstchenSampler, prior_timesteps, uniform_timesteps
from wuerstchen_desktop.core.text import TextEncoder, check_text_model, check_tokenizer

log = logging.getLogger(__name__)

STAGE_PRIOR = "prior"
STAGE_DECODER = "decoder"
STAGE_VQGAN = "vqgan"


@dataclass(frozen=True)
class StepEvent:
    """Reported after each denoising step (and once for the VQGAN decode); ``step`` counts from 1."""

    stage: str
    step: int
    total: int
    latents: torch.Tensor


StepCallback = Callable[[StepEvent], None]
CancelCheck = Callable[[], bool]


@dataclass
class GenerationResult:
    """The images of a job, in prompt-major order, with what is needed to decode them again."""

    images: list[Image.Image]
    pixels: torch.Tensor  # (B, 3, H, W) float32 on the CPU, in [0, 1]
    stage_c: torch.Tensor  # (B, 16, h, w) float32 on the CPU: the decoder's conditioning
    params: list[GenerationParams]  # one per image; each regenerates its image alone
    warnings: list[str] = field(default_factory=list)


def _check_batchable(jobs: Sequence[GenerationParams]) -> None:
    if not jobs:
        raise InvalidParams("Nothing to generate.")
    first = jobs[0]
    for job in jobs[1:]:
        for name in ("width", "height", "prior_steps", "prior_guidance", "decoder_steps", "decoder_guidance"):
            if getattr(job, name) != getattr(first, name):
                raise InvalidParams(
                    f"Prompts generated together must share their {name.replace('_', ' ')}.",
                    "Run them as separate jobs.",
                )


def to_pil(pixels: torch.Tensor) -> list[Image.Image]:
    """``(B, 3, H, W)`` in [0, 1] to 8-bit RGB images, rounding as the reference does."""
    arr = (pixels.float().clamp(0, 1) * 255).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
    return [Image.fromarray(a, mode="RGB") for a in arr]


class Pipeline:
    """Owns the five models; loads each on first use and keeps them for the next job."""

    def __init__(
        self,
        prior: PriorSource,
        decoder: DecoderSource,
        device: torch.device | str = "cpu",
        dtype: torch.dtype = torch.float32,
    ) -> None:
        self.prior_source = prior
        self.decoder_source = decoder
        self.device = torch.device(device)
        self.dtype = dtype
        self._prior_text: TextEncoder | None = None
        self._decoder_text: TextEncoder | None = None
        self._prior: StageC | None = None
        self._decoder: StageB | None = None
        self._vqgan: StageA | None = None

    # -- models, loaded on first use --------------------------------------------------------------
    @property
    def prior_text(self) -> TextEncoder:
        if self._prior_text is None:
            self._prior_text = TextEncoder(self.prior_source.text_root, self.dtype, self.device)
        return self._prior_text

    @property
    def decoder_text(self) -> TextEncoder:
        if self._decoder_text is None:
            self._decoder_text = TextEncoder(self.decoder_source.root, self.dtype, self.device)
        return self._decoder_text

    @property
    def prior(self) -> StageC:
        if self._prior is None:
            self._prior = load_stage(
                StageC, StageCConfig, self.prior_source.prior_dir, self.dtype, self.device
            )
        return self._prior

    @property
    def decoder(self) -> StageB:
        if self._decoder is None:
            root = self.decoder_source.root
            self._decoder = load_stage(StageB, StageBConfig, root / "decoder", self.dtype, self.device)
        return self._decoder

    @property
    def vqgan(self) -> StageA:
        if self._vqgan is None:
            root = self.decoder_source.root
            self._vqgan = load_stage(StageA, StageAConfig, root / "vqgan", self.dtype, self.device)
        return self._vqgan

    def verify(self) -> None:
        """Find a missing, damaged or mismatched file now, from configs and headers, before any work."""
        for root in (self.prior_source.text_root, self.decoder_source.root):
            check_tokenizer(root / "tokenizer")
            check_text_model(root / "text_encoder")
        check_stage(StageC, StageCConfig, self.prior_source.prior_dir)
        check_stage(StageB, StageBConfig, self.decoder_source.root / "decoder")
        check_stage(StageA, StageAConfig, self.decoder_source.root / "vqgan")

    def load(self) -> None:
        """Load every model now rather than on first use."""
        for _ in (self.prior_text, self.prior, self.decoder_text, self.decoder, self.vqgan):
            pass

    def image_record(self, params: GenerationParams, stage_c: torch.Tensor) -> ImageRecord:
        """What an image file records of how it was made: the job, the exact weights, its Stage C latent."""
        sha = self.prior_source.weights_sha256()
        return make_record(
            params,
            stage_c,
            prior_model=self.prior_source.ref,
            decoder_model=self.decoder_source.ref,
            prior_revision=self.prior_source.commit,
            decoder_revision=self.decoder_source.commit,
            model_hash=sha[:10] if sha else None,
        )

    # -- geometry ---------------------------------------------------------------------------------
    def stage_c_size(self, width: int, height: int) -> tuple[int, int]:
        """(height, width) of the Stage C latent: 24x24 at 1024x1024."""
        m = self.prior_source.resolution_multiple
        return math.ceil(height / m), math.ceil(width / m)

    def stage_b_size(self, stage_c_hw: tuple[int, int]) -> tuple[int, int]:
        s = self.decoder_source.latent_dim_scale
        return int(stage_c_hw[0] * s), int(stage_c_hw[1] * s)

    # -- the recipe -------------------------------------------------------------------------------
    @torch.inference_mode()
    def generate(
        self,
        jobs: GenerationParams | Sequence[GenerationParams],
        on_step: StepCallback | None = None,
        cancel: CancelCheck | None = None,
    ) -> GenerationResult:
        """Generate every image of ``jobs`` in one batch (the jobs must share size, steps and guidance)."""
        jobs = [jobs] if isinstance(jobs, GenerationParams) else list(jobs)
        _check_batchable(jobs)
        generators = [
            torch.Generator("cpu").manual_seed(job.seed + i) for job in jobs for i in range(job.images)
        ]
        warnings = self.prompt_warnings(jobs)
        # 1-2. Encode the prompt for Stage C and compose the image in its latent.
        stage_c = self.run_prior(jobs, generators, on_step, cancel)
        # 3-4. Decode: Stage B to the VQGAN latent, Stage A to pixels.
        pixels = self.run_decoder(stage_c, jobs, generators, on_step, cancel)
        params = [job.for_image(i) for job in jobs for i in range(job.images)]
        return GenerationResult(to_pil(pixels), pixels, stage_c.float().cpu(), params, warnings)

    def prompt_warnings(self, jobs: Sequence[GenerationParams]) -> list[str]:
        texts = [t for job in jobs for t in (job.prompt, job.negative_prompt)]
        found = self.prior_text.truncations(texts) + self.decoder_text.truncations(texts)
        return list(dict.fromkeys(t.message() for t in found))

    def _noise(self, generators: Sequence[torch.Generator], shape: tuple[int, ...]) -> torch.Tensor:
        # Drawn on the CPU, image by image, then moved: a seed means the same image on every device.
        noise = [torch.randn((1, *shape), generator=g, dtype=self.dtype) for g in generators]
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

    def _sample(
        self,
        stage: str,
        model: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
        x: torch.Tensor,
        timesteps: torch.Tensor,
        guidance: float,
        sampler: WuerstchenSampler,
        generators: Sequence[torch.Generator],
        on_step: StepCallback | None,
        cancel: CancelCheck | None,
    ) -> torch.Tensor:
        """The denoising loop shared by both stages; ``model(x, r)`` sees ``[cond, uncond]`` under CFG."""
        steps = sampler.steps(timesteps)
        cfg = guidance > 1
        batch = x.shape[0]
        for k, st in enumerate(steps):
            if cancel is not None and cancel():
                raise Cancelled()
            r = torch.full((batch * (2 if cfg else 1),), st.t, dtype=self.dtype, device=self.device)
            if cfg:
                eps_cond, eps_uncond = model(torch.cat([x, x]), r).chunk(2)
                eps = torch.lerp(eps_uncond, eps_cond, guidance)
            else:
                eps = model(x, r)
            x = sampler.step(st, x, eps, self._noise(generators, tuple(x.shape[1:])))
            if on_step is not None:
                on_step(StepEvent(stage, k + 1, len(steps), x))
        return x

    def run_prior(
        self,
        jobs: Sequence[GenerationParams],
        generators: Sequence[torch.Generator],
        on_step: StepCallback | None = None,
        cancel: CancelCheck | None = None,
    ) -> torch.Tensor:
        """Stage C: the ``(B, 16, h, w)`` conditioning for the decoder."""
        job = jobs[0]
        src = self.prior_source
        cfg = job.prior_guidance > 1
        text = self._embeddings(self.prior_text, jobs, negative=False)
        if cfg:
            text = torch.cat([text, self._embeddings(self.prior_text, jobs, negative=True)])
        text = text.to(self.dtype)
        prior = self.prior
        x = self._noise(generators, (prior.c_in, *self.stage_c_size(job.width, job.height)))
        x = self._sample(
            STAGE_PRIOR,
            lambda xin, r: prior(xin, r, text),
            x,
            prior_timesteps(job.prior_steps),
            job.prior_guidance,
            WuerstchenSampler(src.sampler.s, src.sampler.scaler),
            generators,
            on_step,
            cancel,
        )
        return x * src.latent_mean - src.latent_std

    def run_decoder(
        self,
        stage_c: torch.Tensor,
        jobs: Sequence[GenerationParams],
        generators: Sequence[torch.Generator],
        on_step: StepCallback | None = None,
        cancel: CancelCheck | None = None,
    ) -> torch.Tensor:
        """Stage B then Stage A: pixels ``(B, 3, H, W)`` in [0, 1], float32 on the CPU."""
        job = jobs[0]
        src = self.decoder_source
        cfg = job.decoder_guidance > 1
        effnet = stage_c.to(self.device, self.dtype)
        clip = self._embeddings(self.decoder_text, jobs, negative=False)
        if cfg:
            clip = torch.cat([clip, self._embeddings(self.decoder_text, jobs, negative=True)])
            effnet = torch.cat([effnet, torch.zeros_like(effnet)])
        clip = clip.to(self.dtype)
        decoder = self.decoder
        z = self._noise(generators, (decoder.c_in, *self.stage_b_size((stage_c.shape[2], stage_c.shape[3]))))
        z = self._sample(
            STAGE_DECODER,
            lambda zin, r: decoder(zin, r, effnet, clip),
            z,
            uniform_timesteps(job.decoder_steps),
            job.decoder_guidance,
            WuerstchenSampler(src.sampler.s, src.sampler.scaler),
            generators,
            on_step,
            cancel,
        )
        if cancel is not None and cancel():
            raise Cancelled()
        vqgan = self.vqgan
        pixels = vqgan.decode(z * vqgan.scale_factor).clamp(0, 1)
        if on_step is not None:
            on_step(StepEvent(STAGE_VQGAN, 1, 1, pixels))
        return pixels.float().cpu()
