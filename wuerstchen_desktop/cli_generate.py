"""``generate PROMPT`` or ``generate --prompts FILE``: images from text, one job per prompt, written to a
folder. Wildcards in a prompt expand from the seed (see ``core/prompts/wildcards.py``)."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from wuerstchen_desktop.cli_output import Progress, say

if TYPE_CHECKING:
    from wuerstchen_desktop.core.engine.devices import DeviceChoice
    from wuerstchen_desktop.core.engine.pipeline import Pipeline

Engine = Callable[[str, str, argparse.Namespace], tuple["Pipeline", "DeviceChoice"]]


def add_parser(sub: Any, *adders: Callable[[argparse.ArgumentParser], None]) -> None:
    from wuerstchen_desktop.core.prompts.lines import MAX_PROMPTS

    gen = sub.add_parser("generate", help="generate images and write them to a folder")
    text = gen.add_mutually_exclusive_group(required=True)
    text.add_argument(
        "prompt",
        nargs="?",
        metavar="PROMPT",
        help="the prompt; {a|b} picks one choice and __name__ one line of the wildcards folder's name.txt",
    )
    text.add_argument(
        "--prompts",
        type=Path,
        metavar="FILE",
        help=f"a UTF-8 text file of prompts, one per line (# comments and blank lines skipped; at most "
        f"{MAX_PROMPTS}): each is a job of --images images, all from the same seed",
    )
    gen.add_argument("--negative", default="", metavar="TEXT", help="negative prompt")
    gen.add_argument(
        "--width", type=int, default=1024, help="multiple of 128 from 256 to 2048 (default 1024)"
    )
    gen.add_argument(
        "--height", type=int, default=1024, help="multiple of 128 from 256 to 2048 (default 1024)"
    )
    gen.add_argument("--seed", type=int, default=None, help="image i uses seed+i (default: random)")
    gen.add_argument("--images", type=int, default=1, metavar="N", help="images per prompt (default 1)")
    gen.add_argument(
        "--prior-steps",
        type=int,
        default=None,
        metavar="N",
        help="uniform Stage C steps (default: the official 29-step schedule)",
    )
    gen.add_argument("--prior-guidance", type=float, default=4.0, metavar="G", help="default 4.0")
    gen.add_argument("--decoder-steps", type=int, default=12, metavar="N", help="default 12")
    gen.add_argument("--decoder-guidance", type=float, default=0.0, metavar="G", help="default 0 (off)")
    gen.add_argument(
        "--init-image",
        type=Path,
        default=None,
        metavar="FILE",
        help="start from this picture (an image or composition made here, at the same size)",
    )
    gen.add_argument(
        "--strength",
        type=float,
        default=None,
        metavar="S",
        help="with --init-image: how far from the picture, above 0 up to 1 (default 0.5; 1 ignores it)",
    )
    for add in adders:
        add(gen)


def cmd_generate(args: argparse.Namespace, engine: Engine, out: Path) -> int:
    from wuerstchen_desktop.core import appdirs
    from wuerstchen_desktop.core.jobs.job import Job, JobKind
    from wuerstchen_desktop.core.jobs.runner import Saved, check, execute
    from wuerstchen_desktop.core.jobs.start import starting_point
    from wuerstchen_desktop.core.library.naming import FLAT_PATTERN
    from wuerstchen_desktop.core.params import GenerationParams, random_seed
    from wuerstchen_desktop.core.prompts.lines import read_prompt_file
    from wuerstchen_desktop.core.prompts.wildcards import expand_images, with_prompt

    prompts = [args.prompt] if args.prompts is None else read_prompt_file(args.prompts)
    changes, start = starting_point(args.init_image, args.strength)
    base = GenerationParams(
        prompt="",
        negative_prompt=args.negative,
        width=args.width,
        height=args.height,
        seed=random_seed() if args.seed is None else args.seed,
        images=args.images,
        prior_steps=args.prior_steps,
        prior_guidance=args.prior_guidance,
        decoder_steps=args.decoder_steps,
        decoder_guidance=args.decoder_guidance,
    )
    folder = appdirs.wildcards_dir()
    jobs, said = [], []
    for text in prompts:  # every prompt checked before any model loads: a typo on line 40 fails at once
        params = with_prompt(base, text, folder)
        expand_images(params, folder)  # each image's wildcards: a missing list is said now
        job = Job(params, out, args.format, FLAT_PATTERN, kind=JobKind.GENERATE, changes=changes, start=start)
        said += [note for note in check(job) if note not in said]
        jobs.append(job)
    pipe, choice = engine(args.prior, args.decoder, args)
    logging.getLogger(__name__).info("device: %s (%s)", choice.describe(), "; ".join(choice.reasons))
    said += [w for w in pipe.prompt_warnings([j.params for j in jobs if j.params]) if w not in said]
    for warning in said:
        print(f"Note: {warning}", file=sys.stderr)

    def show(saved: Saved) -> None:
        say(saved.path)  # a console that fails to show it never stops the next image

    for job in jobs:
        _, warnings = execute(pipe, job, Progress(sys.stderr), on_saved=show)
        for warning in warnings:
            if warning not in said:  # met on the way: metadata a file could not carry, a memory step-down
                said.append(warning)
                print(f"Note: {warning}", file=sys.stderr)
    return 0
