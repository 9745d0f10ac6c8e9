"""``wuerstchen-desktop serve``: the A1111 web API subset on this computer's engine (see server/)."""

from __future__ import annotations

import argparse
import contextlib
import logging
import sys
from pathlib import Path

DEFAULT_HOST, DEFAULT_PORT = "127.0.0.1", 7861
log = logging.getLogger(__name__)


def add_serve_args(p: argparse.ArgumentParser) -> None:
    """The server's own options; the engine and model options are the ones ``generate`` takes."""
    p.add_argument(
        "--host",
        default=DEFAULT_HOST,
        help=f"address to listen on (default {DEFAULT_HOST}: this computer only; any other asks a token)",
    )
    p.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"default {DEFAULT_PORT}")
    p.add_argument("--tls-cert", type=Path, metavar="FILE", help="serve HTTPS with this PEM certificate")
    p.add_argument("--tls-key", type=Path, metavar="FILE", help="the certificate's private key (PEM)")


def cmd_serve(args: argparse.Namespace) -> int:
    from wuerstchen_desktop.cli_download import fetch_checkpoints
    from wuerstchen_desktop.core import appdirs
    from wuerstchen_desktop.core.engine.build import build_pipeline
    from wuerstchen_desktop.core.engine.checkpoints import decoder_source, prior_source
    from wuerstchen_desktop.core.library.outputdir import check_output_dir
    from wuerstchen_desktop.server.auth import token_for
    from wuerstchen_desktop.server.run import Server, check_tls, open_socket

    tls = check_tls(args.tls_cert, args.tls_key)
    out = args.out if args.out is not None else appdirs.default_output_dir()
    check_output_dir(out)
    token = token_for(args.host)
    sock = open_socket(args.host, args.port)  # a busy port is said before the models are looked at
    fetch_checkpoints(args.prior, args.decoder, args.offline, verify=False)
    prior, decoder = prior_source(args.prior, args.offline), decoder_source(args.decoder, args.offline)
    pipe, choice = build_pipeline(prior, decoder, args.device, args.dtype, args.memory)
    pipe.previewer_path = _previewer()
    server = Server(pipe, out, sock, token, tls)
    print(
        f"Serving the A1111 API on {server.scheme}://{args.host}:{server.port}/sdapi/v1 and ours on "
        f"/wuerstchen/v1 with {choice.describe()}; "
        f"images go to {out}. The models load with the first job. Ctrl+C stops.",
        file=sys.stderr,
        flush=True,
    )
    if token is not None:
        print(
            f"Clients must send `Authorization: Bearer TOKEN`, the token in {appdirs.server_token_file()}.",
            file=sys.stderr,
            flush=True,
        )
    with contextlib.suppress(KeyboardInterrupt):  # uvicorn passes Ctrl+C on once it has shut down
        server.run()
    print("Stopped.", file=sys.stderr)
    return 0


def _previewer() -> Path | None:
    from wuerstchen_desktop.core.engine.live_preview import find_previewer

    try:
        return find_previewer()
    except Exception as exc:  # an optional extra: live previews are approximate without it
        log.warning("live previews will be approximate: %s", exc)
        return None
