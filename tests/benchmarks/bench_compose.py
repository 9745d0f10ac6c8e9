"""Compose first, decode later, timed: a contact sheet of 4 compositions against 4 full images.

Run with ``python tests/benchmarks/bench_compose.py [--size 512] [--count 4]``. It uses the random-weight
checkpoints at the published configs that ``bench_pipeline.py`` writes (once) into
``~/.cache/wuerstchen-bench``, and a random previewer at its published size (c_hidden 512, 4x), so the work
is exactly what the real weights cost. One pipeline with the automatic device, precision and memory
choice; its models are loaded before the clock starts, as in the app between jobs. Printed: seconds to
the contact sheet (Stage C for every seed plus the previews), seconds for the same number of full images,
seconds to decode one picked composition, and the ratios.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_pipeline import CACHE, PROMPT, SEED, ensure_checkpoints, timed

from wuerstchen_desktop.core.engine import compose as c
from wuerstchen_desktop.core.engine.build import build_pipeline
from wuerstchen_desktop.core.engine.checkpoints import decoder_source, prior_source
from wuerstchen_desktop.core.params import GenerationParams


def random_previewer(folder: Path) -> Path:
    """A previewer at the published size with random weights, written in the published layout (weights
    beside training state) and converted as the app converts the download."""
    from wuerstchen_desktop.core.engine.live_preview import convert_previewer
    from wuerstchen_desktop.core.hub.catalogue import PREVIEWER_FILE
    from wuerstchen_desktop.core.models.preview_net import PREVIEWER_C_HIDDEN
    from wuerstchen_desktop.testing import checkpoints

    pt = checkpoints.write_previewer_pt(folder / Path(PREVIEWER_FILE).name, c_hidden=PREVIEWER_C_HIDDEN)
    return convert_previewer(pt, folder / "previewer.safetensors")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--count", type=int, default=4)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--dtype", default="auto")
    args = parser.parse_args()

    prior_dir, decoder_dir = ensure_checkpoints(CACHE)
    pipe, choice = build_pipeline(
        prior_source(str(prior_dir)), decoder_source(str(decoder_dir)), args.device, args.dtype
    )
    print(f"engine: {choice.describe()} ({'; '.join(choice.reasons)})")
    with tempfile.TemporaryDirectory() as tmp:
        pipe.previewer_path = random_previewer(Path(tmp))
        params = GenerationParams(PROMPT, width=args.size, height=args.size, seed=SEED, images=args.count)
        print(f"{args.count} x {args.size}x{args.size}, official 29 prior + 12 decoder steps, seed {SEED}")
        pipe.load()
        c.compose(pipe, params.replace(images=1, prior_steps=1))  # warm-up: previewer, allocator

        sheet, t_sheet = timed(f"contact sheet of {args.count} compositions", lambda: c.compose(pipe, params))
        _, t_full = timed(f"{args.count} full images", lambda: pipe.generate(params))
        pick = c.decoding_params(sheet.params[0])
        _, t_one = timed("decode 1 picked composition", lambda: c.decode(pipe, sheet.stage_c[:1], [pick]))
    print()
    print(f"contact sheet / full images:          {t_sheet / t_full:6.2f}")
    print(f"sheet + decode 1 / {args.count} full images:     {(t_sheet + t_one) / t_full:6.2f}")
    print(f"{args.count} full images vs sheet + pick:    {t_full / (t_sheet + t_one):6.2f}x")


if __name__ == "__main__":
    main()
