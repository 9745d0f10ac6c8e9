"""HTTP to the server, on the GUI thread without ever waiting on it: Qt's own QNetworkAccessManager.

It is asynchronous (a reply reports when it has ended, and as its bytes arrive, so a server-sent event
stream is read while it flows), it answers on the thread that asked (no locks, no thread to stop) and it
comes with PySide6-Essentials: no new dependency. HTTPS goes through Qt's TLS plugin (``plugins/tls`` in
the wheel; on Linux it loads the system's OpenSSL 3), which a bundle must carry.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QByteArray, QObject, QUrl, Signal
from PySide6.QtNetwork import QNetworkAccessManager, QNetworkReply, QNetworkRequest

CALL_TIMEOUT_MS = 30_000  # a plain call; a stream has none (a job may wait long between two steps)


@dataclass(frozen=True)
class Answer:
    """How a call ended: ``status`` 0 when no HTTP answer came (nothing listens, the line dropped)."""

    status: int
    body: bytes
    error: str = ""  # Qt's words for a failure without an answer

    @property
    def reached(self) -> bool:
        return self.status != 0

    def json(self) -> Any:
        try:
            return json.loads(self.body)
        except ValueError:
            return None


class SseParser:
    """Server-sent events from the bytes of a stream as they come: ``feed`` returns the whole events."""

    def __init__(self) -> None:
        self._buffer = b""

    def feed(self, data: bytes) -> list[tuple[str, Any]]:
        self._buffer += data.replace(b"\r\n", b"\n")
        events = []
        while b"\n\n" in self._buffer:
            block, self._buffer = self._buffer.split(b"\n\n", 1)
            name, lines = "message", []
            for line in block.decode("utf-8", "replace").split("\n"):
                if line.startswith("event:"):
                    name = line[6:].strip()
                elif line.startswith("data:"):
                    lines.append(line[5:].removeprefix(" "))
            if lines:
                try:
                    events.append((name, json.loads("\n".join(lines))))
                except ValueError:
                    continue  # not ours: skipped, as a browser skips what it cannot use
        return events


class Http(QObject):
    """Calls to one server (``base``: http(s)://host:port) with its bearer token."""

    def __init__(self, base: str, token: str, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.base, self.token = base.rstrip("/"), token
        self.manager = QNetworkAccessManager(self)

    def _request(self, path: str, timeout_ms: int) -> QNetworkRequest:
        request = QNetworkRequest(QUrl(self.base + path))
        if self.token:
            request.setRawHeader(b"Authorization", f"Bearer {self.token}".encode())
        request.setTransferTimeout(timeout_ms)
        return request

    def call(
        self,
        method: str,
        path: str,
        body: Any,
        done: Callable[[Answer], None],
        timeout_ms: int = CALL_TIMEOUT_MS,
    ) -> QNetworkReply:
        """Send ``body`` (JSON, None: none) and hand the answer to ``done`` on this thread."""
        request = self._request(path, timeout_ms)
        data = QByteArray()
        if body is not None:
            request.setHeader(QNetworkRequest.KnownHeaders.ContentTypeHeader, "application/json")
            data = QByteArray(body if isinstance(body, bytes) else json.dumps(body).encode())
        reply = self.manager.sendCustomRequest(request, method.encode(), data)
        reply.finished.connect(lambda: done(answer_of(reply)))
        return reply

    def stream(
        self, path: str, event: Callable[[str, Any], None], ended: Callable[[Answer], None]
    ) -> QNetworkReply:
        """Read the server-sent events at ``path`` as they arrive; ``ended`` when the stream closes."""
        reply = self.manager.get(self._request(path, 0))
        parser = SseParser()

        def read() -> None:
            for name, data in parser.feed(bytes(reply.readAll().data())):
                event(name, data)

        reply.readyRead.connect(read)
        reply.finished.connect(lambda: ended(answer_of(reply)))
        return reply


def answer_of(reply: QNetworkReply) -> Answer:
    """A finished reply as an ``Answer``; the reply is deleted once control returns to the event loop."""
    status = reply.attribute(QNetworkRequest.Attribute.HttpStatusCodeAttribute)
    body = bytes(reply.readAll().data()) if reply.isOpen() else b""  # an aborted one is closed
    error = "" if reply.error() == QNetworkReply.NetworkError.NoError else reply.errorString()
    reply.deleteLater()
    return Answer(int(status) if status else 0, body, error)


class ServerProbe(QObject):
    """Asks a server what it is (``/sdapi/v1/options``, behind its token like every route) and says what
    it found in one sentence: reachable? token accepted? its models and device."""

    found = Signal(bool, str, str)  # ok, the sentence, the short description ("host · cuda · float16")

    def check(self, base: str, token: str) -> None:
        http = Http(base, token, self)
        http.call("GET", "/sdapi/v1/options", None, lambda a: self._answered(http, base, a), 15_000)

    def _answered(self, http: Http, base: str, answer: Answer) -> None:
        http.deleteLater()
        ok, sentence, short = describe(base, answer, bool(http.token))
        self.found.emit(ok, sentence, short)


def describe(base: str, answer: Answer, sent_token: bool) -> tuple[bool, str, str]:
    """What a probe's answer means, for a person: (ok, sentence, short description)."""
    if not answer.reached:
        return (
            False,
            f"Nothing answers at {base} ({answer.error}): check the address, and that "
            "`wuerstchen-desktop serve` runs there.",
            "",
        )
    if answer.status == 401:
        return False, refused_token(base), ""
    options = answer.json()
    if answer.status != 200 or not isinstance(options, dict) or "wuerstchen_decoder" not in options:
        return False, f"{base} answers, but it is not a Würstchen Desktop server (HTTP {answer.status}).", ""
    prior, decoder = options.get("sd_model_checkpoint", "?"), options.get("wuerstchen_decoder", "?")
    device = " · ".join(str(options[k]) for k in ("wuerstchen_device", "wuerstchen_dtype") if k in options)
    token = "accepted the token" if sent_token else "answered"
    on = f" on {device}" if device else ""
    sentence = f"Connected: the server at {base} {token} and runs {prior} with {decoder}{on}."
    return True, sentence, " · ".join(p for p in (base.split("://", 1)[-1], device) if p)


def refused_token(base: str) -> str:
    return (
        f"The server at {base} refused the token: set the one from its server-token file in "
        "Settings → Run on."
    )
