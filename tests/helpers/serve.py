"""A real ``serve`` on 127.0.0.1 (uvicorn in a thread, on a socket bound before it starts, so clients may
connect at once) over the tiny checkpoints."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from pathlib import Path

from wuerstchen_desktop.server.run import Server, open_socket


@contextlib.contextmanager
def running_server(
    prior: Path, decoder: Path, out: Path, host: str = "127.0.0.1", token: str | None = None
) -> Iterator[Server]:
    from wuerstchen_desktop.core.engine.build import build_pipeline
    from wuerstchen_desktop.core.engine.checkpoints import decoder_source, prior_source

    pipe, _ = build_pipeline(prior_source(str(prior)), decoder_source(str(decoder)), "cpu", "float32")
    server = Server(pipe, out, open_socket(host, 0), token)
    thread = threading.Thread(target=server.run, name="test-serve", daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.stop()
        thread.join(timeout=60)
        assert not thread.is_alive(), "the server did not stop"
