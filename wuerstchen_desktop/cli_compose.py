"""``compose`` and ``decode``: the compose-first workflow from the command line. ``compose`` runs Stage C
alone for several seeds, or a grid of up to two axes, and writes the compositions (as the window saves
them) and a labelled grid image; ``decode`` turns chosen compositions into images."""

from __future__ import annotations

import argparse
import gc
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from wuerstchen_desktop.cli_output import Progress, say

if TYPE_CHECKING:
    from wuerstchen_desktop.core.engine.devices import DeviceChoice
    from wuerstchen_desktop.core.engine.pipeline import Pipeline

Engine = Callable[[str, str, argparse.Namespace], "tuple[Pipeline, DeviceChoice]"]
Adder = Callable[..., None]

GRID_HELP = (
    "a grid axis, up to two (the first across, the second down): seeds=N, seed=V1,V2, "
    'prompt="V1","V2", guidance=V1,V2, steps=N1,official, prior=interpolated,finetuned,base (or folders), '
    "size=WxH,WxH"
)


def add_parsers(sub: Any, add_model_args: Adder, add_engine_args: Adder) -> None:
    co = sub.add_parser(
        "compose",
        help="compose several seeds or a grid (Stage C alone); decode the ones you like later",
        description="Stage C alone: each composition is a small preview PNG with its latent and "
        "parameters, written under DIR/compositions, plus a labelled grid image under DIR/grids.",
    )
    co.add_argument("prompt", metavar="PROMPT")
    co.add_argument("--negative", default="", metavar="TEXT", help="negative prompt")
    co.add_argument("--width", type=int, default=1024, help="multiple of 128 from 256 to 2048 (default 1024)")
    co.add_argument(
        "--height", type=int, default=1024, help="multiple of 128 from 256 to 2048 (default 1024)"
    )
    co.add_argument("--seed", type=int, default=None, help="the first seed (default: random)")
    co.add_argument("--seeds", type=int, default=None, metavar="N", help="compose N consecutive seeds")
    co.add_argument("--grid", action="append", default=[], metavar="AXIS=V1,V2,...", help=GRID_HELP)
    co.add_argument("--prior-steps", type=int, default=None, metavar="N", help="default: the official 29")
    co.add_argument("--prior-guidance", type=float, default=4.0, metavar="G", help="default 4.0")
    co.add_argument("--decoder-steps", type=int, default=12, metavar="N", help="recorded for decoding")
    add_model_args(co)
    add_engine_args(co, image_format=False)  # compositions are PNG

    de = sub.add_parser(
        "decode",
        help="decode compositions into images",
        description="Stage B and Stage A for compositions made by compose or the window, each with its "
        "own seed as the decoder seed: the image generate makes for that seed.",
    )
    de.add_argument("compositions", type=Path, nargs="+", metavar="COMPOSITION")
    de.add_argument("--decoder-steps", type=int, default=None, metavar="N", help="default: as recorded")
    add_model_args(de, from_file=True)
    add_engine_args(de)


def _axes(args: argparse.Namespace) -> list[str]:
    from wuerstchen_desktop.core.errors import InvalidParams

    axes = list(args.grid)
    if args.seeds is not None:
        if any(a.split("=")[0].split(":")[0].strip().lower() in ("seed", "seeds") for a in axes):
            raise InvalidParams("--seeds and a seed axis in --grid say the same thing.", "Give only one.")
        axes.insert(0, f"seeds={args.seeds}")
    if len(axes) > 2:
        raise InvalidParams(f"A grid has at most two axes, and {len(axes)} were given.", "Drop one.")
    return axes or ["seeds=1"]


def cmd_compose(args: argparse.Namespace, engine: Engine, out: Path) -> int:
    from wuerstchen_desktop.core import appdirs
    from wuerstchen_desktop.core.jobs.grid import make_grid
    from wuerstchen_desktop.core.jobs.grid_jobs import export_grid, grid_jobs
    from wuerstchen_desktop.core.jobs.runner import check, execute
    from wuerstchen_desktop.core.library.naming import FLAT_PATTERN
    from wuerstchen_desktop.core.params import GenerationParams, random_seed
    from wuerstchen_desktop.core.prompts.wildcards import prompt_variants

    base = GenerationParams(
        prompt=args.prompt,
        negative_prompt=args.negative,
        width=args.width,
        height=args.height,
        seed=random_seed() if args.seed is None else args.seed,
        prior_steps=args.prior_steps,
        prior_guidance=args.prior_guidance,
        decoder_steps=args.decoder_steps,
    )
    variants = prompt_variants(appdirs.wildcards_dir())
    grid = make_grid(base, args.prior, _axes(args), variants)  # every cell checked before any model loads
    jobs = grid_jobs(grid, out, FLAT_PATTERN)
    said: list[str] = []
    for _batch, job in jobs:
        said += [n for n in check(job) if n not in said]
    for note in said:
        print(f"Note: {note}", file=sys.stderr)
    nrows, ncols = grid.shape
    print(f"Composing {nrows * ncols} composition(s) ({grid.describe()}).", file=sys.stderr)
    paths: dict[tuple[int, int], Path] = {}
    pipe: Pipeline | None = None
    prior = None
    for batch, job in jobs:
        if pipe is None or batch.prior != prior:
            pipe = None
            gc.collect()  # the previous prior's models go before the next one loads
            pipe, _ = engine(batch.prior, args.decoder, args)
            prior = batch.prior
        saved, warnings = execute(pipe, job, Progress(sys.stderr))
        for cell, path in zip(batch.cells, saved, strict=True):
            paths[(cell.row, cell.col)] = path
            say(path)
        for warning in warnings:
            if warning not in said:
                said.append(warning)
                print(f"Note: {warning}", file=sys.stderr)
    say(export_grid(grid, paths, out))
    return 0


def cmd_decode(args: argparse.Namespace, engine: Engine, out: Path) -> int:
    from wuerstchen_desktop.core.imagefile.read import read_record
    from wuerstchen_desktop.core.jobs.job import Job, JobKind
    from wuerstchen_desktop.core.jobs.reproduce import named_model
    from wuerstchen_desktop.core.jobs.runner import Saved, check, execute
    from wuerstchen_desktop.core.library.naming import FLAT_PATTERN

    changes = () if args.decoder_steps is None else (("decoder_steps", args.decoder_steps),)
    jobs = [
        Job(None, out, args.format, FLAT_PATTERN, kind=JobKind.DECODE, sources=(path,), changes=changes)
        for path in args.compositions
    ]
    said: list[str] = []
    for job in jobs:  # every file holds a composition and fits, before any model loads
        said += [n for n in check(job) if n not in said]
    first = read_record(args.compositions[0])
    prior = args.prior or named_model(first.prior_model, "prior")
    decoder = args.decoder or named_model(first.decoder_model, "decoder")
    for note in said:
        print(f"Note: {note}", file=sys.stderr)
    pipe, _ = engine(prior, decoder, args)

    def show(saved: Saved) -> None:
        say(saved.path)

    for job in jobs:
        _, warnings = execute(pipe, job, Progress(sys.stderr), on_saved=show)
        for warning in warnings:
            if warning not in said:
                said.append(warning)
                print(f"Note: {warning}", file=sys.stderr)
    return 0
