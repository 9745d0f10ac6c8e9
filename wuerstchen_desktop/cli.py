"""The command line: the GUI by default; ``generate``, ``compose``, ``decode``, ``upscale``, ``download``,
``info``, ``read``, ``reproduce`` and ``serve`` headless."""

from __future__ import annotations

import argparse
import logging
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from wuerstchen_desktop import __version__, cli_compose, cli_generate, cli_upscale
from wuerstchen_desktop.cli_download import fetch_checkpoints, fetch_encoder, print_checkpoints
from wuerstchen_desktop.cli_output import Progress, console_json, make_console_safe, say
from wuerstchen_desktop.cli_serve import add_serve_args, cmd_serve
from wuerstchen_desktop.core import appdirs
from wuerstchen_desktop.core.choices import DEVICES, DTYPES, MEMORY_HELP, MEMORY_MODES
from wuerstchen_desktop.core.errors import Cancelled, WuerstchenError
from wuerstchen_desktop.core.params import DEFAULT_DECODER_REPO, DEFAULT_PRIOR_REPO

if TYPE_CHECKING:
    from wuerstchen_desktop.core.engine.devices import DeviceChoice
    from wuerstchen_desktop.core.engine.pipeline import Pipeline

EXIT_OK, EXIT_USER, EXIT_USAGE, EXIT_CANCELLED = 0, 1, 2, 130


def _add_model_args(p: argparse.ArgumentParser, from_file: bool = False) -> None:
    prior = "the one the image names" if from_file else DEFAULT_PRIOR_REPO
    decoder = "the one the image names" if from_file else DEFAULT_DECODER_REPO
    p.add_argument(
        "--prior",
        default=None if from_file else DEFAULT_PRIOR_REPO,
        metavar="REPO_OR_DIR",
        help=f"prior checkpoints: a Hub repository or a local folder (default {prior})",
    )
    p.add_argument(
        "--decoder",
        default=None if from_file else DEFAULT_DECODER_REPO,
        metavar="REPO_OR_DIR",
        help=f"decoder checkpoints: a Hub repository or a local folder (default {decoder})",
    )
    p.add_argument("--offline", action="store_true", help="never use the network")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=appdirs.PROGRAM,
        description="Würstchen Desktop: text-to-image with Würstchen v2. Without a command, opens the app.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("--verbose", action="store_true", help="log details and show tracebacks")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    cli_generate.add_parser(sub, _add_model_args, _add_engine_args)

    rp = sub.add_parser(
        "reproduce", help="make an image (or composition) again from its file's parameters alone, and compare"
    )
    rp.add_argument("image", type=Path, metavar="IMAGE")
    rp.add_argument(
        "--source", type=Path, default=None, metavar="FILE", help="the picture it was made from, if any"
    )
    _add_model_args(rp, from_file=True)
    _add_engine_args(rp)

    cli_upscale.add_parser(sub, _add_model_args, _add_engine_args)
    cli_compose.add_parsers(sub, _add_model_args, _add_engine_args)

    dl = sub.add_parser("download", help="download the checkpoints")
    _add_model_args(dl)
    dl.add_argument(
        "--encoder",
        action="store_true",
        help="also fetch the image encoder, for starting from pictures not made here (about 81 MB)",
    )
    sub.add_parser("info", help="devices, the precision auto would pick, and the checkpoints on disk")
    rd = sub.add_parser("read", help="print the parameters embedded in an image as JSON")
    rd.add_argument("image", type=Path, metavar="IMAGE")
    sv = sub.add_parser("serve", help="serve the A1111 web API (txt2img, progress, interrupt) over HTTP")
    add_serve_args(sv)
    _add_engine_args(sv, image_format=False)  # answers carry PNG, as A1111's do
    _add_model_args(sv)
    return parser


def _add_engine_args(p: argparse.ArgumentParser, image_format: bool = True) -> None:
    p.add_argument("--device", default="auto", choices=DEVICES)
    p.add_argument("--dtype", default="auto", choices=DTYPES)
    p.add_argument(
        "--memory",
        default="auto",
        choices=MEMORY_MODES,
        help="; ".join(f"{mode}: {text}" for mode, text in MEMORY_HELP.items()),
    )
    p.add_argument(
        "--out", type=Path, default=None, metavar="DIR", help="output folder (default: Pictures/Wuerstchen)"
    )
    if image_format:
        p.add_argument("--format", default="png", choices=["png", "jpeg", "webp"])


def _output_dir(args: argparse.Namespace) -> Path:
    """``--out`` or the default."""
    out: Path = args.out if args.out is not None else appdirs.default_output_dir()
    return out


def _engine(prior_ref: str, decoder_ref: str, args: argparse.Namespace) -> tuple[Pipeline, DeviceChoice]:
    """The pipeline for these checkpoints (downloaded first unless on disk) and the engine options."""
    from wuerstchen_desktop.core.engine.build import build_pipeline
    from wuerstchen_desktop.core.engine.checkpoints import decoder_source, prior_source

    fetch_checkpoints(prior_ref, decoder_ref, args.offline, verify=False)
    prior, decoder = prior_source(prior_ref, args.offline), decoder_source(decoder_ref, args.offline)
    return build_pipeline(prior, decoder, args.device, args.dtype, args.memory)


def cmd_generate(args: argparse.Namespace) -> int:
    return cli_generate.cmd_generate(args, _engine, _output_dir(args))


def cmd_download(args: argparse.Namespace) -> int:
    from wuerstchen_desktop.core.engine.checkpoints import decoder_source, prior_source
    from wuerstchen_desktop.core.hub import cache_layout
    from wuerstchen_desktop.core.hub.catalogue import OPTIONAL

    fetch_checkpoints(args.prior, args.decoder, args.offline, verify=True, optional=True)
    if args.encoder and not args.offline:
        fetch_encoder()
    for source in (prior_source(args.prior, args.offline), decoder_source(args.decoder, args.offline)):
        commit = f" (commit {source.commit})" if source.commit else ""
        print(f"{source.ref}: ready{commit}", flush=True)
    for entry in OPTIONAL.values():
        st = cache_layout.local_status(entry.repo_id, repo_type=entry.repo_type)
        if st.complete:
            print(f"{entry.repo_id} ({entry.repo_type}, {entry.label.lower()}): ready (commit {st.commit})")
    return EXIT_OK


def cmd_info(args: argparse.Namespace) -> int:
    import platform

    import torch

    from wuerstchen_desktop.core.engine.devices import choose, probe

    print(f"Würstchen Desktop {__version__}, Python {platform.python_version()}, torch {torch.__version__}")
    print(f"CPU: {platform.machine()} {platform.processor() or ''}".rstrip())
    if torch.cuda.is_available():
        for i in range(torch.cuda.device_count()):
            props = torch.cuda.get_device_properties(i)
            print(f"CUDA {i}: {props.name}, {props.total_memory / 2**30:.1f} GiB")
    else:
        print("CUDA: not available")
    mps = getattr(torch.backends, "mps", None)
    print(f"MPS: {'available' if mps and mps.is_available() else 'not available'}")
    caps = probe()
    ram = caps.ram_available / 2**30
    print(f"CPU features: {caps.cpu_features or 'none of note'}; RAM available: {ram:.1f} GiB")
    choice = choose(probe=lambda: caps)
    print(f"Auto choice: {choice.describe()} (for the published checkpoints)")
    for reason in choice.reasons:
        print(f"  - {reason}")
    print_checkpoints()
    return EXIT_OK


def run_gui(argv: Sequence[str]) -> int:
    from wuerstchen_desktop.app import main as app_main

    return app_main(list(argv))


def cmd_read(args: argparse.Namespace) -> int:
    from wuerstchen_desktop.core.imagefile.read import read_parameters

    say(console_json(read_parameters(args.image).to_json_dict(), sys.stdout))
    return EXIT_OK


def cmd_reproduce(args: argparse.Namespace) -> int:
    """Run the recipe a file records (a blend: both compositions, mixed, decoded), save the result, and
    say how far its pixels are from the file's."""
    import numpy as np

    from wuerstchen_desktop.core.imagefile.read import open_pixels, read_record
    from wuerstchen_desktop.core.jobs.job import Job, JobKind
    from wuerstchen_desktop.core.jobs.records import record_latent
    from wuerstchen_desktop.core.jobs.reproduce import BATCH_NOTE, named_model
    from wuerstchen_desktop.core.jobs.runner import Saved, check, execute
    from wuerstchen_desktop.core.library.naming import FLAT_PATTERN

    record = read_record(args.image)
    job = Job(
        None,
        _output_dir(args),
        args.format,
        FLAT_PATTERN,
        kind=JobKind.REPRODUCE,
        sources=(args.image,),
        start=args.source,
    )
    check(job)
    prior_ref = args.prior or named_model(record.prior_model, "prior")
    decoder_ref = args.decoder or named_model(record.decoder_model, "decoder")
    pipe, choice = _engine(prior_ref, decoder_ref, args)
    made: list[Saved] = []
    execute(pipe, job, Progress(sys.stderr), on_saved=made.append)
    again = made[0]
    say(again.path)
    if record.kind == "composition":  # a preview depends on the previewer: compare the latents
        before_latent, after_latent = record_latent(record), record_latent(again.record)
        gap = float((before_latent - after_latent).abs().max())
        scale = float(before_latent.abs().max())
        print(
            f"Its Stage C latent differs from {args.image.name}'s by at most {gap:.4g} "
            f"(values up to {scale:.4g}), made on {choice.describe()}.",
            file=sys.stderr,
        )
        if gap > 0:
            print(BATCH_NOTE, file=sys.stderr)
        return EXIT_OK
    with open_pixels(args.image) as original:
        before = np.asarray(original.convert("RGB"), dtype=np.int16)
    after = np.asarray(again.image.convert("RGB"), dtype=np.int16)
    if before.shape != after.shape:
        print(f"The original is {before.shape[1]}x{before.shape[0]}: not comparable.", file=sys.stderr)
        return EXIT_OK
    diff = np.abs(before - after)
    print(
        f"Differs from {args.image.name} by at most {int(diff.max())} of 255 levels "
        f"(mean {float(diff.mean()):.4f}), made on {choice.describe()}.",
        file=sys.stderr,
    )
    if diff.max() > 0:
        print(BATCH_NOTE, file=sys.stderr)
    return EXIT_OK


def cmd_upscale(args: argparse.Namespace) -> int:
    return cli_upscale.cmd_upscale(args, _engine, _output_dir(args))


def cmd_compose(args: argparse.Namespace) -> int:
    return cli_compose.cmd_compose(args, _engine, _output_dir(args))


def cmd_decode(args: argparse.Namespace) -> int:
    return cli_compose.cmd_decode(args, _engine, _output_dir(args))


COMMANDS = {
    "generate": cmd_generate,
    "compose": cmd_compose,
    "decode": cmd_decode,
    "upscale": cmd_upscale,
    "download": cmd_download,
    "info": cmd_info,
    "read": cmd_read,
    "reproduce": cmd_reproduce,
    "serve": cmd_serve,
}


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    first = next((a for a in argv if not a.startswith("-")), None)
    if first not in COMMANDS and not {"-h", "--help", "--version"} & set(argv):
        return run_gui(argv)
    make_console_safe()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        return COMMANDS[args.command](args)
    except (Cancelled, KeyboardInterrupt):
        print("Cancelled.", file=sys.stderr)
        return EXIT_CANCELLED
    except WuerstchenError as exc:
        if args.verbose:
            traceback.print_exc()
        print(f"Error: {exc}", file=sys.stderr)
        return EXIT_USER
