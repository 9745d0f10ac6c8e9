"""The first job against the second in one process, loading from a cold and a warm page cache, and the
reference's first and second job, at the published model sizes.

Run with ``python tests/benchmarks/bench_first_job.py [--size 512] [--prior-steps official] [--runs ...]``.
Each run is its own subprocess (one published pipeline at a time, ~12 GB in float32):

- ``cold``: the checkpoint files dropped from the page cache (``posix_fadvise(DONTNEED)`` per file, the
  resident bytes before and after shown by ``fincore`` where it is installed), then loading timed and two
  jobs run with nothing in between: the command line's ``generate``.
- ``app``: loading from the warm page cache, then the app's warm-up at the job's size, then two jobs.
- ``reference``: diffusers' combined pipeline built, then two jobs.

Every job has its own prompt and seed. Printed: loading, each job's seconds and its stages' (text
encoders, Stage C, Stage B, Stage A), and the ratio of the first job to the second.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import time
import warnings
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_pipeline import CACHE, SEED, ensure_checkpoints

PROMPTS = ("a photo of a cat in the red painting", "a lighthouse on a cliff at dusk, oil on canvas")
RUNS = ("cold", "app", "reference")


def checkpoint_files() -> list[Path]:
    return sorted(p for p in CACHE.rglob("*") if p.is_file() and p.suffix == ".safetensors")


def resident_bytes(files: list[Path]) -> int | None:
    """Bytes of ``files`` in the page cache now, from util-linux's fincore; None without it."""
    if shutil.which("fincore") is None:
        return None
    out = subprocess.run(
        ["fincore", "--bytes", "--noheadings", "--raw", "--output", "RES", *map(str, files)],
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    return sum(int(x) for x in out.split() if x.isdigit())


def drop_from_page_cache(files: list[Path]) -> dict:
    """Ask the kernel to drop ``files``' pages (no process may have them mapped): a cold read follows."""
    before = resident_bytes(files)
    for path in files:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)
    return {"cached_gib_before": _gib(before), "cached_gib_after": _gib(resident_bytes(files))}


def _gib(n: int | None) -> float | None:
    return None if n is None else n / 2**30


class StageClock:
    """Seconds of one job and of its parts: the prior's text encoder and Stage C, the decoder's text encoder
    and Stage B, Stage A."""

    def __init__(self) -> None:
        self.start = time.perf_counter()
        self.cpu = time.process_time()
        self.faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        self.seen: dict[str, float] = {}

    def mark(self, stage: str) -> None:
        self.seen[stage] = time.perf_counter()  # the stage's latest step

    def report(self) -> dict[str, float]:
        end = time.perf_counter()
        prior, decoder = self.seen["prior"], self.seen["decoder"]
        return {
            "job_s": end - self.start,
            # On a shared machine the wall time moves with the others' load; the CPU time much less.
            "cpu_s": time.process_time() - self.cpu,
            "page_faults": resource.getrusage(resource.RUSAGE_SELF).ru_minflt - self.faults,
            "prior_s": prior - self.start,
            "decoder_s": decoder - prior,
            "vqgan_s": self.seen.get("vqgan", end) - decoder,
        }


def run_ours(run: str, size: int, prior_steps: int | None, decoder_steps: int) -> dict:
    from wuerstchen_desktop.core.engine.build import build_pipeline
    from wuerstchen_desktop.core.engine.checkpoints import decoder_source, prior_source
    from wuerstchen_desktop.core.params import GenerationParams

    out: dict = drop_from_page_cache(checkpoint_files()) if run == "cold" else {}
    start = time.perf_counter()
    sources = prior_source(str(CACHE / "wuerstchen-prior")), decoder_source(str(CACHE / "wuerstchen"))
    pipe, choice = build_pipeline(*sources)
    pipe.load()
    out["load_s"] = time.perf_counter() - start
    out["engine"] = choice.summary()
    params = GenerationParams(
        "", width=size, height=size, prior_steps=prior_steps, decoder_steps=decoder_steps, seed=SEED
    )
    if run == "app":
        from wuerstchen_desktop.core.engine.warmup import likely_jobs, warm_up

        start = time.perf_counter()
        warm_up(pipe, likely_jobs(params)[:1], lambda: False)  # the panel's size; the default is 1024
        out["warm_up_s"] = time.perf_counter() - start
    for k, prompt in enumerate(PROMPTS):
        clock = StageClock()
        pipe.generate(
            params.replace(prompt=prompt, seed=SEED + k), on_step=lambda e, c=clock: c.mark(e.stage)
        )
        if choice.device.type == "cuda":
            torch.cuda.synchronize()
        out[f"job{k + 1}"] = clock.report()
    return out


def run_reference(size: int, prior_steps: int | None, decoder_steps: int) -> dict:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from diffusers.pipelines.deprecated.wuerstchen.pipeline_wuerstchen_prior import (
            DEFAULT_STAGE_C_TIMESTEPS,
        )
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    from tests.helpers.reference import build_reference

    start = time.perf_counter()
    pipe = build_reference(CACHE / "wuerstchen-prior", CACHE / "wuerstchen")
    out: dict = {"load_s": time.perf_counter() - start, "engine": "diffusers, float32"}
    for k, prompt in enumerate(PROMPTS):
        clock = StageClock()

        def on(stage: str, clock: StageClock = clock):
            return lambda _pipe, _i, _t, kwargs: clock.mark(stage) or kwargs

        pipe(
            prompt,
            width=size,
            height=size,
            prior_timesteps=DEFAULT_STAGE_C_TIMESTEPS if prior_steps is None else None,
            prior_num_inference_steps=prior_steps or 60,
            prior_guidance_scale=4.0,
            num_inference_steps=decoder_steps,
            decoder_guidance_scale=0.0,
            generator=torch.Generator("cpu").manual_seed(SEED + k),
            output_type="pt",
            prior_callback_on_step_end=on("prior"),
            callback_on_step_end=on("decoder"),
        )
        out[f"job{k + 1}"] = clock.report()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--prior-steps", default="official", help="'official' (29 calls) or a number")
    parser.add_argument("--decoder-steps", type=int, default=12)
    parser.add_argument("--runs", default=",".join(RUNS), help=f"any of {', '.join(RUNS)}")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    prior_steps = None if args.prior_steps == "official" else int(args.prior_steps)
    if args.child:
        if args.child == "reference":
            out = run_reference(args.size, prior_steps, args.decoder_steps)
        else:
            out = run_ours(args.child, args.size, prior_steps, args.decoder_steps)
        print("RESULT " + json.dumps(out), flush=True)
        return
    ensure_checkpoints(CACHE)
    schedule = "29" if prior_steps is None else str(prior_steps)
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads; {args.size}x{args.size}, "
        f"{schedule} + {args.decoder_steps} steps",
        flush=True,
    )
    results: dict[str, dict] = {}
    for run in args.runs.split(","):
        cmd = [sys.executable, __file__, "--size", str(args.size), "--prior-steps", args.prior_steps]
        cmd += ["--decoder-steps", str(args.decoder_steps), "--child", run]
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")), None)
        if line is None:
            print(f"{run}: failed\n{proc.stderr[-3000:]}", file=sys.stderr)
            continue
        results[run] = json.loads(line.removeprefix("RESULT "))
        print(f"{run}: {results[run]}", file=sys.stderr, flush=True)
    print(
        f"\n{'run':10} {'engine':28} {'load s':>7} {'warm-up':>8} {'job 1 s':>8} {'job 2 s':>8} "
        f"{'1st/2nd':>8} {'CPU 1st/2nd':>12}  per stage, job 1 / job 2 (C, B, A)"
    )
    for run, r in results.items():
        j1, j2 = r["job1"], r["job2"]
        stages = "  ".join(f"{j1[k]:.1f}/{j2[k]:.1f}" for k in ("prior_s", "decoder_s", "vqgan_s"))
        warm = f"{r['warm_up_s']:.1f}" if "warm_up_s" in r else "-"
        print(
            f"{run:10} {r['engine']:28} {r['load_s']:7.1f} {warm:>8} {j1['job_s']:8.1f} "
            f"{j2['job_s']:8.1f} {j1['job_s'] / j2['job_s']:7.2f}x "
            f"{j1['cpu_s'] / j2['cpu_s']:11.2f}x  {stages}"
        )
    if "cold" in results:
        print(
            f"page cache of the checkpoint files before/after dropping it (GiB): "
            f"{results['cold'].get('cached_gib_before')} / {results['cold'].get('cached_gib_after')}"
        )
    ref = results.get("reference")
    for run in ("cold", "app"):
        if ref and run in results:
            r = results[run]
            ours = r["load_s"] + r["job1"]["job_s"]
            theirs = ref["load_s"] + ref["job1"]["job_s"]
            print(
                f"end to end (loading + first job), reference / {run}: {theirs / ours:.2f}x; "
                f"second jobs: {ref['job2']['job_s'] / r['job2']['job_s']:.2f}x"
            )


if __name__ == "__main__":
    main()
