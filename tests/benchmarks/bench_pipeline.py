"""Our pipeline against the reference (diffusers' WuerstchenCombinedPipeline) at the published model sizes.

Run with ``python tests/benchmarks/bench_pipeline.py [--size 512] [--runs auto,float32,low,reference]``.
The first run writes random-weight checkpoints at the published configs, in the Hub layout, into
``~/.cache/wuerstchen-bench`` (about 12 GB of float32, a few minutes). Each run then happens in a fresh
subprocess, so its peak RSS is its own: the same prompt, size, seed and the official 29 + 12 schedule.
Printed per run: seconds per step of each stage, end to end (model loading included), peak RSS (and VRAM
on a GPU), the ratio to the reference, and each stage's share of this machine's measured matmul peak,
from the FLOP counts in WUERSTCHEN.md.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
import warnings
from collections import defaultdict
from pathlib import Path

import torch

CACHE = Path(os.environ.get("WUERSTCHEN_BENCH_CACHE", "~/.cache/wuerstchen-bench")).expanduser()
PROMPT = "a photo of a cat in the red painting"
SEED = 7
# TFLOP per model call (the prior's with CFG, batch 2) and per VQGAN decode, from WUERSTCHEN.md.
TFLOP = {512: (0.606, 0.642, 0.543), 1024: (2.31, 2.86, 2.17), 1536: (5.47, 7.79, 4.89)}
STAGES = ("prior", "decoder", "vqgan")


def timed(label: str, work, width: int = 40, digits: int = 1):
    """``work()`` and the seconds it took, printed beside ``label``."""
    start = time.perf_counter()
    out = work()
    seconds = time.perf_counter() - start
    print(f"{label:<{width}} {seconds:8.{digits}f} s", flush=True)
    return out, seconds


def ensure_checkpoints(root: Path) -> tuple[Path, Path]:
    """The published configs with random weights, written once."""
    from wuerstchen_desktop.core.models import StageAConfig, StageBConfig, StageCConfig
    from wuerstchen_desktop.testing import checkpoints

    prior, decoder = root / "wuerstchen-prior", root / "wuerstchen"
    if not (prior / "model_index.json").is_file():
        print(f"writing the prior checkpoints into {prior} ...", file=sys.stderr, flush=True)
        checkpoints.write_prior_repo(prior, prior=StageCConfig(), text=checkpoints.PRIOR_TEXT)
    if not (decoder / "model_index.json").is_file():
        print(f"writing the decoder checkpoints into {decoder} ...", file=sys.stderr, flush=True)
        checkpoints.write_decoder_repo(
            decoder, decoder=StageBConfig(), vqgan=StageAConfig(), text=checkpoints.DECODER_TEXT
        )
    return prior, decoder


def matmul_peak(dtype: torch.dtype, n: int = 3072, reps: int = 4) -> float:
    """Best TFLOP/s of an n x n matmul in ``dtype`` on this machine."""
    a, b = torch.randn(n, n).to(dtype), torch.randn(n, n).to(dtype)
    a @ b  # warm-up
    best = float("inf")
    for _ in range(reps):
        t = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - t)
    return 2 * n**3 / best / 1e12


class Clock:
    """Timestamps of each stage's steps."""

    def __init__(self) -> None:
        self.start = time.perf_counter()
        self.marks: dict[str, list[float]] = defaultdict(list)

    def mark(self, stage: str) -> None:
        self.marks[stage].append(time.perf_counter())

    def report(self, end: float) -> dict[str, float]:
        out = {"end_to_end_s": end - self.start}
        for stage in ("prior", "decoder"):
            t = self.marks[stage]
            out[f"{stage}_s_per_step"] = (t[-1] - t[0]) / (len(t) - 1)  # the first step pays for loading
        out["vqgan_s"] = (self.marks["vqgan"][-1] if self.marks["vqgan"] else end) - self.marks["decoder"][-1]
        return out


def run_ours(
    prior_dir: Path,
    decoder_dir: Path,
    size: int,
    dtype: str,
    memory: str,
    compile: bool = False,
    warm: bool = False,
) -> dict:
    """One job, model loading included. Compiled (or ``warm``), a first job pays for loading and the
    compilation (reported as ``compile_job_s``) and a second job, with a new seed, is the one timed."""
    from wuerstchen_desktop.core.engine.build import build_pipeline
    from wuerstchen_desktop.core.engine.checkpoints import decoder_source, prior_source
    from wuerstchen_desktop.core.engine.devices import dtype_name
    from wuerstchen_desktop.core.params import GenerationParams

    clock = Clock()
    sources = prior_source(str(prior_dir)), decoder_source(str(decoder_dir))
    pipe, choice = build_pipeline(*sources, "auto", dtype, memory, compile)
    params = GenerationParams(PROMPT, width=size, height=size, seed=SEED)
    extra = {}
    if compile or warm:
        pipe.generate(params.replace(seed=SEED + 1))
        extra["compile_job_s"] = time.perf_counter() - clock.start
        clock = Clock()
    pipe.generate(params, on_step=lambda e: clock.mark(e.stage))
    if choice.device.type == "cuda":
        torch.cuda.synchronize()
    report = clock.report(time.perf_counter())
    return {"dtype": dtype_name(choice.dtype), "memory": choice.memory, **report, **extra}


def run_reference(prior_dir: Path, decoder_dir: Path, size: int) -> dict:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from diffusers.pipelines.deprecated.wuerstchen.pipeline_wuerstchen_prior import (
            DEFAULT_STAGE_C_TIMESTEPS,
        )
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # run as a script from anywhere
    from tests.helpers.reference import build_reference

    clock = Clock()
    pipe = build_reference(prior_dir, decoder_dir)

    def on(stage: str):
        return lambda _pipe, _i, _t, kwargs: clock.mark(stage) or kwargs

    pipe(
        PROMPT,
        width=size,
        height=size,
        prior_timesteps=DEFAULT_STAGE_C_TIMESTEPS,
        prior_guidance_scale=4.0,
        num_inference_steps=12,
        decoder_guidance_scale=0.0,
        generator=torch.Generator("cpu").manual_seed(SEED),
        output_type="pt",
        prior_callback_on_step_end=on("prior"),
        callback_on_step_end=on("decoder"),
    )
    return {"dtype": "float32", "memory": "-", **clock.report(time.perf_counter())}


def child(args: argparse.Namespace) -> None:
    prior, decoder = CACHE / "wuerstchen-prior", CACHE / "wuerstchen"
    if args.child == "reference":
        out = run_reference(prior, decoder, args.size)
    else:
        dtype, memory, *how = args.child.split(":")
        out = run_ours(prior, decoder, args.size, dtype, memory, "compile" in how, "warm" in how)
    scale = 1024 if sys.platform != "darwin" else 1  # ru_maxrss is KiB on Linux, bytes on macOS
    out["peak_rss_gib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale / 2**30
    if torch.cuda.is_available():
        out["peak_vram_gib"] = torch.cuda.max_memory_allocated() / 2**30
    print("RESULT " + json.dumps(out), flush=True)


RUNS = {
    "auto": "auto:auto",
    "float32": "float32:high",
    "low": "auto:low",
    "float32-low": "float32:low",
    "compiled": "auto:auto:compile",  # the opt-in torch.compile setting; timed on its second job
    "warm": "auto:auto:warm",  # auto, timed on its second job: what each image after the first costs
    "reference": "reference",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=512, choices=sorted(TFLOP))
    parser.add_argument("--runs", default="reference,auto,float32,low", help=f"any of {', '.join(RUNS)}")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return
    ensure_checkpoints(CACHE)
    peaks = {name: matmul_peak(dt) for name, dt in (("float32", torch.float32), ("bfloat16", torch.bfloat16))}
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads; matmul peak (TFLOP/s): "
        + ", ".join(f"{k} {v:.2f}" for k, v in peaks.items())
    )
    results: dict[str, dict] = {}
    for name in args.runs.split(","):
        cmd = [sys.executable, __file__, "--size", str(args.size), "--child", RUNS[name]]
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")), None)
        if line is None:
            print(f"{name}: failed\n{proc.stderr[-3000:]}", file=sys.stderr)
            continue
        results[name] = json.loads(line.removeprefix("RESULT "))
        print(f"{name}: {results[name]}", file=sys.stderr, flush=True)
    flops = TFLOP[args.size]
    ref = results.get("reference")
    head = f"{'run':12} {'dtype':9} {'memory':8} {'C s/step':>9} {'B s/step':>9} {'A s':>6} {'total s':>8}"
    head += f" {'peak RSS':>9} {'speed-up':>8} {'RSS':>6}  peak use C/B/A"
    print(f"\n{args.size}x{args.size}, 29 + 12 steps\n{head}")
    for name, r in results.items():
        secs = (r["prior_s_per_step"], r["decoder_s_per_step"], r["vqgan_s"])
        peak = peaks.get(r["dtype"], peaks["float32"])
        use = "/".join(f"{f / s / peak:.0%}" for f, s in zip(flops, secs, strict=True))
        speed = f"{ref['end_to_end_s'] / r['end_to_end_s']:.2f}x" if ref else "-"
        rss = f"{r['peak_rss_gib'] / ref['peak_rss_gib']:.0%}" if ref else "-"
        vram = f" VRAM {r['peak_vram_gib']:.1f}" if "peak_vram_gib" in r else ""
        vram += f" (second job; the first took {r['compile_job_s']:.0f} s)" if "compile_job_s" in r else ""
        print(
            f"{name:12} {r['dtype']:9} {r['memory']:8} {secs[0]:9.2f} {secs[1]:9.2f} {secs[2]:6.1f} "
            f"{r['end_to_end_s']:8.1f} {r['peak_rss_gib']:7.1f}GB {speed:>8} {rss:>6}  {use}{vram}"
        )


if __name__ == "__main__":
    main()
