"""Starting the server: the listening socket (so an address in use is said before anything starts), the
token decision, and uvicorn on the socket until Ctrl+C."""

from __future__ import annotations

import socket
import ssl
from pathlib import Path
from typing import TYPE_CHECKING

from wuerstchen_desktop.core.errors import ServerError
from wuerstchen_desktop.server.app import create_app
from wuerstchen_desktop.server.engine import Engine
from wuerstchen_desktop.server.jobqueue import JobQueue

if TYPE_CHECKING:
    import uvicorn

    from wuerstchen_desktop.core.engine.pipeline import Pipeline


def open_socket(host: str, port: int) -> socket.socket:
    """A socket listening on ``host``:``port`` (0: any free port)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
        family, _, _, _, address = infos[0]
        sock = socket.socket(family, socket.SOCK_STREAM)
    except OSError as exc:
        raise ServerError(f"Cannot listen on {host}: {exc}.", "Check the --host address.") from exc
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        # Inherited by each connection: without it an answer's body waits for the client's delayed ACK of
        # its headers (40 ms on Linux, every request).
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.bind(address)
        sock.listen(128)
    except OSError as exc:
        sock.close()
        raise ServerError(
            f"Cannot listen on {host} port {port}: {exc.strerror or exc}.",
            "Choose another --port, or stop the program using it.",
        ) from exc
    return sock


def check_tls(cert: Path | None, key: Path | None) -> tuple[Path, Path] | None:
    """The certificate and key to serve HTTPS with, proven to load; None for plain HTTP."""
    if cert is None and key is None:
        return None
    if cert is None or key is None:
        raise ServerError("HTTPS needs both --tls-cert and --tls-key.", "Give the certificate and its key.")
    try:
        ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(cert, key)
    except (OSError, ssl.SSLError) as exc:
        raise ServerError(
            f"The certificate {cert} and key {key} cannot be used: {getattr(exc, 'strerror', None) or exc}.",
            "Give a PEM certificate and the private key that goes with it (not protected by a passphrase).",
        ) from exc
    return cert, key


class Server:
    """The engine, its queue and the HTTP server on one socket; ``run`` blocks until ``stop``. With
    ``tls`` (certificate, key: see ``check_tls``) it speaks HTTPS only."""

    def __init__(
        self,
        pipe: Pipeline,
        out_dir: Path,
        sock: socket.socket,
        token: str | None,
        tls: tuple[Path, Path] | None = None,
    ) -> None:
        import uvicorn

        self.engine = Engine(pipe, out_dir)
        self.queue = JobQueue(self.engine)
        self.app = create_app(self.engine, self.queue, token)
        self.socket = sock
        self.scheme = "https" if tls else "http"
        cert, key = tls or (None, None)
        config = uvicorn.Config(
            self.app,
            log_level="warning",
            timeout_graceful_shutdown=5,
            ssl_certfile=cert,
            ssl_keyfile=key,
        )
        self._server: uvicorn.Server = uvicorn.Server(config)

    @property
    def port(self) -> int:
        return int(self.socket.getsockname()[1])

    def run(self) -> None:
        try:
            self._server.run(sockets=[self.socket])
        finally:
            self.queue.close()
            self.socket.close()

    def stop(self) -> None:
        """Ask ``run`` to return (from any thread); the running job stops at its next step."""
        self._server.should_exit = True
