"""Starting from a picture, timed: Upscale 2x against a text-to-image at the doubled size, and
image-to-image at strength 0.5 against text-to-image at the same size. Our pipeline, one run each.

Run with ``python tests/benchmarks/bench_upscale.py [--size 512] [--published]``. By default it uses the
tiny random-weight checkpoints the tests use (written into a temporary folder), so the times show what the
step counts and image sizes cost, not the real models' arithmetic; ``--published`` uses the random-weight
checkpoints at the published configs that ``bench_pipeline.py`` writes (once, about 12 GB) into
``~/.cache/wuerstchen-bench``. One pipeline with the automatic device, precision and memory choice, its
models loaded and warmed up before the clock starts. Printed: each job's seconds and the ratios.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_pipeline import CACHE, PROMPT, SEED, ensure_checkpoints
from bench_pipeline import timed as bench_timed

from wuerstchen_desktop.core.engine.build import build_pipeline
from wuerstchen_desktop.core.engine.checkpoints import decoder_source, prior_source
from wuerstchen_desktop.core.engine.recipe import Start
from wuerstchen_desktop.core.models.effnet_encoder import EffNetEncoder, encode_image
from wuerstchen_desktop.core.params import DEFAULT_UPSCALE_STRENGTH, GenerationParams, stage_c_size
from wuerstchen_desktop.testing import checkpoints


def timed(label: str, work):
    return bench_timed(label, work, width=52, digits=2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=512, help="the picture's size; the upscale is twice it")
    parser.add_argument("--strength", type=float, default=DEFAULT_UPSCALE_STRENGTH, help="the upscale's")
    parser.add_argument("--published", action="store_true", help="the published model sizes (12 GB)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--dtype", default="auto")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        if args.published:
            prior_dir, decoder_dir = ensure_checkpoints(CACHE)
        else:
            prior_dir, decoder_dir = Path(tmp) / "prior", Path(tmp) / "decoder"
            checkpoints.write_prior_repo(prior_dir)
            checkpoints.write_decoder_repo(decoder_dir)
        pipe, choice = build_pipeline(
            prior_source(str(prior_dir)), decoder_source(str(decoder_dir)), args.device, args.dtype
        )
        print(f"engine: {choice.describe()}; {'published' if args.published else 'tiny'} checkpoints")
        s = args.size
        base = GenerationParams(PROMPT, width=s, height=s, seed=SEED)
        print(f"{s}x{s} and {2 * s}x{2 * s}, official 29 prior + 12 decoder steps, seed {SEED}")
        pipe.load()
        pipe.generate(base.replace(prior_steps=1, decoder_steps=1))  # warm-up

        made, t_text = timed(f"text-to-image {s}x{s}", lambda: pipe.generate(base))
        sha = hashlib.sha256(np.asarray(made.images[0]).tobytes()).hexdigest()
        i2i = base.replace(strength=0.5, source=sha, seed=SEED + 1)
        start = Start(pipe.prior_space(made.stage_c), 0.5)
        _, t_i2i = timed(f"image-to-image {s}x{s} at strength 0.5", lambda: pipe.generate(i2i, start=start))
        big = base.replace(width=2 * s, height=2 * s)
        _, t_big = timed(f"text-to-image {2 * s}x{2 * s}", lambda: pipe.generate(big))
        up = big.replace(upscale=2, strength=args.strength, source=sha, decoder_seed=SEED)
        enlarged = made.images[0].resize((2 * s, 2 * s), Image.Resampling.LANCZOS)  # as the job enlarges
        pixels = torch.from_numpy(np.asarray(enlarged).copy()).permute(2, 0, 1)[None].float() / 255
        label = f"Upscale 2x to {2 * s}x{2 * s} at strength {args.strength:g}"
        _, t_up = timed(label, lambda: pipe.upscale(up, made.stage_c, pixels))
        # The image encoder a picture made elsewhere goes through (random weights: the same arithmetic).
        encoder = EffNetEncoder().eval().to(pipe.device)
        hw = stage_c_size(2 * s, 2 * s, pipe.prior_source.resolution_multiple)
        with torch.inference_mode():
            encode_image(encoder, pixels, hw)  # warm-up
            label = f"image encoder, a {2 * s}x{2 * s} picture (float32)"
            timed(label, lambda: encode_image(encoder, pixels, hw))
    print()
    print(f"image-to-image at 0.5 / text-to-image:              {t_i2i / t_text:6.2f}")
    print(f"Upscale 2x / text-to-image at the doubled size:     {t_up / t_big:6.2f}")
    print(f"text-to-image {s} + Upscale 2x / text-to-image {2 * s}: {(t_text + t_up) / t_big:6.2f}")


if __name__ == "__main__":
    main()
