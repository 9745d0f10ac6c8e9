"""One HTTP GET on a thread of its own, so that waiting on a slow server never ends the request.

The request runs with generous timeouts (connect: ``timeout``; silence before the first byte or between two
bytes: ``stall_timeout``) on a reader thread that hands the answer over through a small queue. The caller
waits on that queue at most ``POLL_S`` at a time and checks for cancel in between, so a cancel takes effect
within a second while a server that takes a while to start answering is still waited for.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Generator
from typing import TYPE_CHECKING, Any, TypeVar

from wuerstchen_desktop.core.errors import Cancelled
from wuerstchen_desktop.core.hub import server_checks

if TYPE_CHECKING:
    from collections.abc import Mapping

    from huggingface_hub import HfFileMetadata

    from wuerstchen_desktop.core.hub.http_failures import Retry

POLL_S = 0.5  # how long the caller waits for the reader before cancel is checked again
_QUEUED = 64  # chunks held between the reader and the writer: a few MB at most


T = TypeVar("T")


def call(fn: Callable[[], T], cancelled: Callable[[], bool]) -> T:
    """``fn()`` (a blocking request) on a thread of its own, given up within ``POLL_S`` of a cancel."""
    done: queue.Queue[tuple[bool, Any]] = queue.Queue(1)

    def run() -> None:
        try:
            done.put((True, fn()))
        except BaseException as exc:  # handed to the caller, which raises it
            done.put((False, exc))

    threading.Thread(target=run, daemon=True, name="download-request").start()
    while True:
        try:
            ok, value = done.get(timeout=POLL_S)
        except queue.Empty:
            if cancelled():
                raise Cancelled() from None
            continue
        if ok:
            return value
        raise value


def file_metadata(
    url: str,
    headers: Mapping[str, str],
    timeout: float,
    cancelled: Callable[[], bool],
    retry: Retry,
    what: str,
) -> HfFileMetadata:
    """huggingface_hub's HEAD of a ``resolve`` URL (size, ETag, commit, redirect), off the caller's
    thread; a failure is waited out and tried again by ``retry``, or raised as its sentence about ``what``."""
    from huggingface_hub import get_hf_file_metadata

    while True:
        if cancelled():
            raise Cancelled()
        try:
            return call(lambda: get_hf_file_metadata(url, timeout=timeout, headers=dict(headers)), cancelled)
        except Cancelled:
            raise
        except Exception as exc:
            retry.failed(exc, what)


class LinkRefused(Exception):
    """A download link away from the Hub (a CDN's signed URL) answered 401 or 403: it may have expired.

    Not a WuerstchenError: the fetcher asks for a new link; a DownloadError says so once that fails too."""

    def __init__(self, status: int, url: str) -> None:
        super().__init__(f"HTTP {status} from {url.split('?')[0]}")
        self.status = status


class _Reader(threading.Thread):
    def __init__(self, session: Any, url: str, headers: dict[str, str], timeout: Any, endpoint: str) -> None:
        super().__init__(daemon=True, name="download-reader")
        self.session, self.url, self.headers, self.timeout, self.endpoint = (
            session,
            url,
            headers,
            timeout,
            endpoint,
        )
        self.items: queue.Queue[tuple[str, Any]] = queue.Queue(_QUEUED)
        self.stop = threading.Event()

    def _put(self, item: tuple[str, Any]) -> bool:
        while not self.stop.is_set():
            try:
                self.items.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def run(self) -> None:
        from huggingface_hub.utils import hf_raise_for_status

        try:
            with self.session.stream("GET", self.url, headers=self.headers, timeout=self.timeout) as r:
                if r.status_code >= 400:
                    r.read()
                    if r.status_code in (401, 403) and not server_checks.same_origin(
                        str(r.url), self.endpoint
                    ):
                        raise LinkRefused(r.status_code, str(r.url))
                    hf_raise_for_status(r)
                if not self._put(("response", r)):
                    return
                for chunk in r.iter_bytes():  # as they arrive: a buffer would be lost with the connection
                    if not self._put(("data", chunk)):
                        return
            self._put(("end", None))
        except BaseException as exc:  # handed to the caller, which raises it
            self._put(("error", exc))


def stream(
    session: Any,
    url: str,
    headers: dict[str, str],
    *,
    timeout: float,
    stall_timeout: float,
    endpoint: str,
    cancelled: Callable[[], bool],
) -> Generator[tuple[str, Any], None, None]:
    """``("response", response)`` once, then ``("data", bytes)`` until the body ends.

    Raises what the request raised (httpx2's ReadTimeout after ``stall_timeout`` s of silence, LinkRefused,
    huggingface_hub's HTTP errors), or Cancelled. Closing the iterator lets the reader go.
    """
    import httpx2

    limits = httpx2.Timeout(timeout, read=stall_timeout)
    reader = _Reader(session, url, headers, limits, endpoint)
    reader.start()
    try:
        while True:
            try:
                kind, value = reader.items.get(timeout=POLL_S)
            except queue.Empty:
                if cancelled():
                    raise Cancelled() from None
                continue
            if kind == "error":
                raise value
            if kind == "end":
                return
            yield kind, value
    finally:
        reader.stop.set()
