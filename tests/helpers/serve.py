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
    prior: Path,
    decoder: Path,
    out: Path,
    host: str = "127.0.0.1",
    token: str | None = None,
    tls: tuple[Path, Path] | None = None,
) -> Iterator[Server]:
    from wuerstchen_desktop.core.engine.build import build_pipeline
    from wuerstchen_desktop.core.engine.checkpoints import decoder_source, prior_source

    pipe, _ = build_pipeline(prior_source(str(prior)), decoder_source(str(decoder)), "cpu", "float32")
    server = Server(pipe, out, open_socket(host, 0), token, tls)
    thread = threading.Thread(target=server.run, name="test-serve", daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.stop()
        thread.join(timeout=60)
        assert not thread.is_alive(), "the server did not stop"


class StepGate:
    """A step listener that holds the server's worker at the first Stage C step of a job until
    ``release``: the test then sees a job in flight, with no timing involved."""

    def __init__(self) -> None:
        self.reached = threading.Event()
        self._release = threading.Event()
        self._held = False

    def __call__(self, event: object) -> None:
        if not self._held and getattr(event, "stage", None) == "prior":
            self._held = True
            self.reached.set()
            assert self._release.wait(120), "the test never released the worker"

    def wait(self) -> None:
        assert self.reached.wait(120), "no job reached Stage C"

    def release(self) -> None:
        self._release.set()


def api(server: Server, token: str | None = None):
    """webuiapi's client for ``server``, sending ``token`` as a bearer header when given."""
    import webuiapi

    client = webuiapi.WebUIApi(host="127.0.0.1", port=server.port)
    if token is not None:
        client.session.headers["Authorization"] = f"Bearer {token}"
    return client


def session_from(address: str, token: str | None = None):
    """A ``requests`` session whose connections leave from ``address`` (say 127.0.0.2): to the server,
    another client on this computer."""
    import requests
    from requests.adapters import HTTPAdapter

    class FromAddress(HTTPAdapter):
        def init_poolmanager(self, *args, **kwargs):  # type: ignore[no-untyped-def]
            kwargs["source_address"] = (address, 0)
            super().init_poolmanager(*args, **kwargs)

    session = requests.Session()
    session.mount("http://", FromAddress())
    session.mount("https://", FromAddress())
    if token is not None:
        session.headers["Authorization"] = f"Bearer {token}"
    return session


def sse_events(response) -> list[tuple[str, dict]]:
    """The (event, data) pairs of a server-sent event stream, read to its end."""
    import json

    events, name = [], "message"
    for line in response.iter_lines(decode_unicode=True):
        if line.startswith("event: "):
            name = line[len("event: ") :]
        elif line.startswith("data: "):
            events.append((name, json.loads(line[len("data: ") :])))
            name = "message"
    return events


def self_signed(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and its key, made by the ``openssl`` command (skips without it)."""
    import shutil
    import subprocess

    import pytest

    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("the openssl command is not installed")
    cert, key = folder / "cert.pem", folder / "key.pem"
    command = [openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"]
    command += ["-nodes", "-keyout", str(key), "-out", str(cert), "-days", "2", "-subj", "/CN=127.0.0.1"]
    subprocess.run(
        [*command, "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True,
        capture_output=True,
    )
    return cert, key
