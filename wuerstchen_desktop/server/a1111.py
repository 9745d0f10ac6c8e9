"""A1111's ``/sdapi/v1`` request and response shapes, mapped onto Würstchen's two stages.

``steps`` and ``cfg_scale`` drive Stage C, the prior, which makes the composition (as ``Steps`` and
``CFG scale`` are the prior's in our files' A1111 text); no ``steps`` means the official 29-call
schedule. Stage B, the decoder, takes our own fields ``decoder_steps`` and ``decoder_cfg_scale``. A1111
fields we have no use for (samplers, hires fix, scripts…) are accepted and ignored, as clients send them
all. Every value is then checked by ``GenerationParams``, the CLI's limits and sentences.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from wuerstchen_desktop import __version__
from wuerstchen_desktop.core.errors import InvalidParams
from wuerstchen_desktop.core.imagefile.parameters_text import SAMPLER_NAME, format_parameters
from wuerstchen_desktop.core.imagefile.record import OFFICIAL_PRIOR_CALLS, ImageRecord
from wuerstchen_desktop.core.params import MAX_IMAGES, GenerationParams, random_seed

MAX_PROMPT_CHARS = 20_000  # far past the 77 tokens the text encoders read; keeps records readable


class Txt2ImgRequest(BaseModel):
    """The fields of A1111's ``StableDiffusionTxt2ImgProcessingAPI`` we use, and our own."""

    model_config = ConfigDict(extra="ignore")

    prompt: str = Field("", max_length=MAX_PROMPT_CHARS)
    negative_prompt: str = Field("", max_length=MAX_PROMPT_CHARS)
    seed: int = -1  # -1: a random seed, as in A1111
    width: int = 1024  # A1111's 512 is sent by most clients and is valid; Würstchen is best at 1024
    height: int = 1024
    steps: int | None = None  # prior steps; None: the official schedule
    cfg_scale: float = 4.0  # prior guidance
    batch_size: int = 1
    n_iter: int = 1
    decoder_steps: int = 12
    decoder_cfg_scale: float = 0.0
    send_images: bool = True


def to_params(req: Txt2ImgRequest) -> list[GenerationParams]:
    """One ``GenerationParams`` per iteration (``n_iter``), each of ``batch_size`` images; image ``i`` of
    the whole request has seed ``seed + i``, as in A1111. Raises ``InvalidParams`` with the CLI's
    sentence for any value the CLI would refuse."""
    for name, value in (("batch size", req.batch_size), ("number of batches (n_iter)", req.n_iter)):
        if not 1 <= value <= MAX_IMAGES:
            raise InvalidParams(f"The {name} must be a whole number from 1 to {MAX_IMAGES}, not {value}.")
    total = req.batch_size * req.n_iter
    if total > MAX_IMAGES:
        raise InvalidParams(
            f"A request makes at most {MAX_IMAGES} images, not {total} (batch size times n_iter).",
            "Ask for fewer, or send several requests.",
        )
    seed = random_seed() if req.seed == -1 else req.seed
    whole = GenerationParams(  # checks every field at once, the seed against the last image's too
        prompt=req.prompt,
        negative_prompt=req.negative_prompt,
        width=req.width,
        height=req.height,
        seed=seed,
        images=total,
        prior_steps=req.steps,
        prior_guidance=req.cfg_scale,
        decoder_steps=req.decoder_steps,
        decoder_guidance=req.decoder_cfg_scale,
    )
    return [whole.replace(seed=seed + k * req.batch_size, images=req.batch_size) for k in range(req.n_iter)]


def png_base64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def info_json(req: Txt2ImgRequest, runs: list[GenerationParams], records: list[ImageRecord]) -> str:
    """The ``info`` string of A1111's txt2img answer (``Processed.js()``): the job, and each image's
    infotext, which is the ``parameters`` text its file carries."""
    first = runs[0]
    seeds = [p.seed + i for p in runs for i in range(p.images)]
    hashes = [r.model_hash for r in records if r.model_hash]
    model = records[0].prior_model if records else ""
    info: dict[str, Any] = {
        "prompt": first.prompt,
        "all_prompts": [first.prompt] * len(seeds),
        "negative_prompt": first.negative_prompt,
        "all_negative_prompts": [first.negative_prompt] * len(seeds),
        "seed": first.seed,
        "all_seeds": seeds,
        "subseed": -1,
        "all_subseeds": [-1] * len(seeds),
        "subseed_strength": 0,
        "width": first.width,
        "height": first.height,
        "sampler_name": SAMPLER_NAME,
        "cfg_scale": first.prior_guidance,
        "steps": first.prior_steps or OFFICIAL_PRIOR_CALLS,
        "batch_size": req.batch_size,
        "restore_faces": False,
        "face_restoration_model": None,
        "sd_model_name": model.replace("\\", "/").rstrip("/").rsplit("/", 1)[-1],
        "sd_model_hash": hashes[0] if hashes else None,
        "sd_vae_name": None,
        "sd_vae_hash": None,
        "seed_resize_from_w": -1,
        "seed_resize_from_h": -1,
        "denoising_strength": None,
        "extra_generation_params": {
            "Decoder steps": first.decoder_steps,
            "Decoder CFG scale": first.decoder_guidance,
        },
        "index_of_first_image": 0,
        "infotexts": [format_parameters(r) for r in records],
        "styles": [],
        "job_timestamp": "",
        "clip_skip": 1,
        "is_using_inpainting_conditioning": False,
        "version": f"wuerstchen-desktop {__version__}",
    }
    return json.dumps(info, ensure_ascii=False)


def sd_model(ref: str, model_hash: str | None) -> dict[str, Any]:
    """The prior as one entry of A1111's ``/sd-models`` list (the checkpoint that takes the prompt)."""
    name = ref.replace("\\", "/").rstrip("/").rsplit("/", 1)[-1] or ref
    title = f"{name} [{model_hash}]" if model_hash else name
    return {
        "title": title,
        "model_name": name,
        "hash": model_hash,
        "sha256": None,
        "filename": ref,
        "config": None,
    }
