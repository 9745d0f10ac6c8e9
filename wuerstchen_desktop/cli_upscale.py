"""``upscale IMAGE``: Upscale 2x (experimental), a picture drawn again by Stage B at twice its size."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from wuerstchen_desktop.cli_output import Progress, say

if TYPE_CHECKING:
    from wuerstchen_desktop.core.engine.devices import DeviceChoice
    from wuerstchen_desktop.core.engine.pipeline import Pipeline

HELP = (
    "Upscale 2x (experimental until seen on the real weights): Stage B draws the picture again at twice "
    "its size, from its composition (stored in images made here; other pictures need the image encoder) "
    "and its pixels enlarged 2x with Lanczos and noised to the strength"
)


def add_parser(sub: Any, *adders: Callable[[argparse.ArgumentParser], None]) -> None:
    from wuerstchen_desktop.core.params import DEFAULT_UPSCALE_STRENGTH
    from wuerstchen_desktop.core.params import UPSCALE_LARGEST as LARGEST

    up = sub.add_parser("upscale", help="make a picture twice as large (experimental)", description=HELP)
    up.add_argument("image", type=Path, metavar="IMAGE", help=f"the picture, at most {LARGEST} pixels a side")
    up.add_argument(
        "--strength",
        type=float,
        default=DEFAULT_UPSCALE_STRENGTH,
        metavar="S",
        help=f"how much fine detail is drawn anew, above 0 up to 1 (default {DEFAULT_UPSCALE_STRENGTH:g}; "
        "1 keeps only the composition)",
    )
    up.add_argument("--seed", type=int, default=None, help="the seed of the new detail (default: random)")
    up.add_argument(
        "--prompt", default=None, metavar="TEXT", help="the prompt (default: the image's own, or none)"
    )
    for add in adders:
        add(up)


def cmd_upscale(
    args: argparse.Namespace,
    engine: Callable[[str, str, argparse.Namespace], tuple[Pipeline, DeviceChoice]],
    out: Path,
) -> int:
    from wuerstchen_desktop.core.jobs.job import Job, JobKind
    from wuerstchen_desktop.core.jobs.runner import Saved, check, execute
    from wuerstchen_desktop.core.library.naming import FLAT_PATTERN

    changes: list[tuple[str, Any]] = [("strength", args.strength)]
    if args.seed is not None:
        changes.append(("decoder_seed", args.seed))
    if args.prompt is not None:
        changes.append(("prompt", args.prompt))
    job = Job(
        None,
        out,
        args.format,
        FLAT_PATTERN,
        kind=JobKind.UPSCALE,
        changes=tuple(changes),
        start=args.image,
    )
    said = check(job)  # the picture, its size, the encoder and the output folder, before any model loads
    pipe, _ = engine(args.prior, args.decoder, args)
    for warning in said:
        print(f"Note: {warning}", file=sys.stderr)

    def show(saved: Saved) -> None:
        say(saved.path)

    _, warnings = execute(pipe, job, Progress(sys.stderr), on_saved=show)
    for warning in warnings:
        if warning not in said:
            print(f"Note: {warning}", file=sys.stderr)
    return 0
