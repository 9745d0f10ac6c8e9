"""A 4 x 4 grid of compositions against the 16 full images of the same cells, timed.

Run with ``python tests/benchmarks/bench_grid.py [--size 512] [--published]``. Without ``--published`` it
uses the tiny random-weight test checkpoints (fixed costs dominate); with it, the random-weight checkpoints
at the published configs that ``bench_pipeline.py`` writes (once) into ``~/.cache/wuerstchen-bench``, so
the work is what the real weights cost. Both runs go through the job runner the window and the command
line use, files written: the grid (4 seeds across, prior guidance 2, 4, 6, 8 down; one compose job per
row, each a batch of 4) and its labelled image, then the same 16 cells as full images (one generate job
per row), then decoding one row of the grid. One pipeline with the automatic device, precision and memory
choice, its models loaded and warmed up before the clock starts; official 29 prior + 12 decoder steps.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_pipeline import CACHE, PROMPT, SEED, ensure_checkpoints, timed

from wuerstchen_desktop.core.engine.build import build_pipeline
from wuerstchen_desktop.core.engine.checkpoints import decoder_source, prior_source
from wuerstchen_desktop.core.jobs.grid import make_grid
from wuerstchen_desktop.core.jobs.grid_jobs import export_grid, grid_jobs
from wuerstchen_desktop.core.jobs.job import Job, JobKind
from wuerstchen_desktop.core.jobs.runner import execute
from wuerstchen_desktop.core.params import GenerationParams

AXES = ["seeds=4", "guidance=2,4,6,8"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=None, help="default 512 (tiny), 256 (--published)")
    parser.add_argument("--published", action="store_true", help="the published model sizes")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--dtype", default="auto")
    args = parser.parse_args()
    size = args.size or (256 if args.published else 512)

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        if args.published:
            prior_dir, decoder_dir = ensure_checkpoints(CACHE)
        else:
            from wuerstchen_desktop.testing import checkpoints

            prior_dir = checkpoints.write_prior_repo(root / "prior")
            decoder_dir = checkpoints.write_decoder_repo(root / "decoder")
        pipe, choice = build_pipeline(
            prior_source(str(prior_dir)), decoder_source(str(decoder_dir)), args.device, args.dtype
        )
        which = "published sizes" if args.published else "tiny test checkpoints"
        print(f"engine: {choice.describe()} ({'; '.join(choice.reasons)}); {which}")
        print(f"4 x 4 grid at {size}x{size}, official 29 prior + 12 decoder steps, seeds from {SEED}")
        pipe.load()
        base = GenerationParams(PROMPT, width=size, height=size, seed=SEED)
        warm = Job(base.replace(prior_steps=1, decoder_steps=1), root / "warm", kind=JobKind.GENERATE)
        execute(pipe, warm)  # warm-up: allocator, text encoders, the first call of each stage

        grid = make_grid(base, str(prior_dir), AXES)
        out = root / "out"
        jobs = grid_jobs(grid, out, "{time}-{seed}-{slug}")
        paths: dict[tuple[int, int], Path] = {}

        def compose_grid() -> None:
            for batch, job in jobs:
                saved, _ = execute(pipe, job)
                paths.update({(c.row, c.col): p for c, p in zip(batch.cells, saved, strict=True)})

        _, t_grid = timed("grid of 16 compositions (4 jobs of 4)", compose_grid)
        image, t_image = timed("its labelled grid image", lambda: export_grid(grid, paths, out), digits=2)
        full = [dataclasses.replace(job, kind=JobKind.GENERATE) for _batch, job in jobs]
        _, t_full = timed("16 full images (4 jobs of 4)", lambda: [execute(pipe, job) for job in full])
        row = [Job(None, out, sources=(paths[(1, col)],), kind=JobKind.DECODE) for col in range(4)]
        _, t_row = timed("decode one row (4 compositions)", lambda: [execute(pipe, job) for job in row])
        print(f"grid image: {image.stat().st_size / 1024:.0f} KiB")
    print()
    print(f"grid / 16 full images:               {(t_grid + t_image) / t_full:6.2f}")
    print(f"grid + a row decoded / 16 full:      {(t_grid + t_image + t_row) / t_full:6.2f}")
    print(f"16 full images vs grid + row:        {t_full / (t_grid + t_image + t_row):6.2f}x")


if __name__ == "__main__":
    main()
