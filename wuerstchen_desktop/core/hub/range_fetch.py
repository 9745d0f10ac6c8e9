"""One remote file read a byte range at a time, each range kept on disk so that nothing is fetched twice.

The file is found as the downloader finds one (huggingface_hub's HEAD on the resolve endpoint, its
redirect checked by server_checks), then read with ``Range: bytes=a-b`` requests through transfer.py, with
the downloader's retries and cancel (``FINISH_BYTES``). Each range lands in ``work`` as
``<start>-<end>.part`` while it arrives and is renamed ``<start>-<end>`` once whole, so a new run after a
cancel or a crash reads what arrived from disk and asks the server only for the rest. The names are
numbers this module computes: nothing the server says becomes a path.

A server that answers a range request with the whole file (some proxies and mirrors ignore ``Range``) is
caught on its first answer, and the request is dropped before the body is read.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import re
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote

from wuerstchen_desktop.core.errors import Cancelled, DownloadError, NoRanges
from wuerstchen_desktop.core.hub import cache_layout, server_checks, transfer
from wuerstchen_desktop.core.hub.http_failures import UNSAFE_HINT, Retry, Stalled, Truncated
from wuerstchen_desktop.core.hub.transfer import LinkRefused
from wuerstchen_desktop.core.hub.units import human

log = logging.getLogger(__name__)

RELINKS = 3  # new links asked for when a CDN refuses one (an expired signed URL)
# A cancel lets a request finish when no more than this is left of it, so that nothing arrives twice;
# otherwise it stops at once, keeping what arrived (what was still on its way is asked for again).
FINISH_BYTES = 2**20


class RemoteRanges:
    """``repo_id/filename`` at ``revision``, read with ``read(offset, length)``; ``fetched`` counts the
    bytes that came over the network, ``on_bytes`` hears each piece as it arrives."""

    def __init__(
        self,
        repo_id: str,
        filename: str,
        work_root: Path,
        *,
        revision: str = "main",
        endpoint: str | None = None,
        token: str | None = None,
        cancelled: Callable[[], bool] = lambda: False,
        timeout: float = 10.0,
        stall_timeout: float = 30.0,  # as the downloader: 30 s of silence is a stall
        retries: int = 5,
        backoff: float = 1.0,
        on_bytes: Callable[[int], None] | None = None,
    ) -> None:
        from huggingface_hub import constants
        from huggingface_hub.utils import build_hf_headers, get_session

        self.repo_id, self.filename, self.revision = repo_id, filename, revision
        self.what = f"{repo_id}/{filename}"
        self.work_root, self.cancelled, self.on_bytes = Path(work_root), cancelled, on_bytes
        self.timeout, self.stall_timeout, self.retries, self.backoff = (
            timeout,
            stall_timeout,
            retries,
            backoff,
        )
        self.endpoint = (endpoint or constants.ENDPOINT).rstrip("/")
        self.headers = build_hf_headers(token=token)
        self.session = get_session()
        self.fetched = 0
        self.url, self.size, self.commit, self.checksum = "", 0, "", ""

    @property
    def identity(self) -> str:
        """The file's sha256 when the server names it, else a hash of its commit and path."""
        return self.checksum or hashlib.sha256(f"{self.commit}/{self.filename}".encode()).hexdigest()

    @property
    def work(self) -> Path:
        return self.work_root / self.identity[:32]

    def open(self) -> None:
        """Find the file: its download link, size, commit and checksum."""
        self.url, self.size, self.commit, self.checksum = self._metadata()

    def _metadata(self) -> tuple[str, int, str, str]:
        url = f"{self.endpoint}/{self.repo_id}/resolve/{quote(self.revision, safe='')}/{quote(self.filename)}"
        retry = Retry(self.retries, self.backoff, self.cancelled)
        meta = transfer.file_metadata(url, self.headers, self.timeout, self.cancelled, retry, self.what)
        try:
            checksum = server_checks.checksum(meta.etag) or ""
            location = server_checks.location(url, meta.location)
            commit = server_checks.commit(meta.commit_hash) if meta.commit_hash else ""
        except ValueError as exc:
            raise DownloadError(f"The server sent an {exc} for {self.what}.", UNSAFE_HINT) from exc
        if meta.size is None or meta.size < 0:
            raise DownloadError(f"The server gives no size for {self.what}.", UNSAFE_HINT)
        if not (cache_layout.SHA256.match(checksum) or commit):
            raise DownloadError(
                f"The server names neither a checksum nor a commit for {self.what}, so parts of it fetched "
                "at different times could come from different files.",
                UNSAFE_HINT,
            )
        return location, meta.size, commit, checksum if cache_layout.SHA256.match(checksum) else ""

    def read(self, offset: int, length: int) -> bytes:
        """Bytes ``[offset, offset + length)`` of the file, from disk when an earlier run fetched them."""
        end = offset + length
        if not 0 <= offset <= end <= self.size:
            raise ValueError(f"range {offset}-{end} outside a file of {self.size} bytes")
        done = self.work / f"{offset}-{end}"
        if done.is_file() and done.stat().st_size == length:
            return done.read_bytes()
        self.work.mkdir(parents=True, exist_ok=True)
        part = done.with_name(done.name + ".part")
        retry = Retry(self.retries, self.backoff, self.cancelled)
        relinks = 0
        while True:
            have = part.stat().st_size if part.exists() else 0
            if have > length:
                part.unlink()
                have = 0
            if have == length:
                break
            if self.cancelled():
                raise Cancelled()
            try:
                got = self._get(offset + have, end, part)
                if have + got < length:
                    raise Truncated(f"the answer ended after {have + got} of {length} bytes")
                if got:
                    retry.failures = 0
            except LinkRefused as exc:
                relinks += 1
                if relinks > RELINKS:
                    raise DownloadError(
                        f"The download link for {self.what} was refused ({exc}), also after asking for a new "
                        f"one {RELINKS} times.",
                        "The server's storage refuses its own links: try again later, or another mirror.",
                    ) from exc
                url, size, commit, checksum = self._metadata()
                if (size, commit, checksum) != (self.size, self.commit, self.checksum):
                    raise DownloadError(
                        f"{self.what} changed on the server while parts of it were fetched.",
                        "Try again: the fetch starts over.",
                    ) from exc
                self.url = url
            except (Cancelled, DownloadError):
                raise
            except Exception as exc:
                import httpx2

                if isinstance(exc, httpx2.ReadTimeout):
                    exc = Stalled(f"the server sent nothing for {self.stall_timeout:g} s")
                retry.failed(exc, self.what)
        part.replace(done)
        return done.read_bytes()

    def whole(self, dst: Path) -> Path:
        """The whole file into ``dst`` (asked for when the server sends no parts), its size checked; one try:
        a server that ignores Range cannot resume either."""
        dst.parent.mkdir(parents=True, exist_ok=True)
        part = dst.with_name(dst.name + ".part")
        part.unlink(missing_ok=True)
        try:
            got = self._get(0, self.size, part, whole=True)
        except BaseException:
            part.unlink(missing_ok=True)
            raise
        if got != self.size:
            part.unlink(missing_ok=True)
            raise DownloadError(
                f"The server sent {got} of the {self.size} bytes of {self.what}.", "Try again later."
            )
        part.replace(dst)
        return dst

    def _get(self, start: int, end: int, part: Path, whole: bool = False) -> int:
        """One GET of ``[start, end)`` appended to ``part``; the number of bytes written."""
        headers = {**self.headers, "Accept-Encoding": "identity", "Range": f"bytes={start}-{end - 1}"}
        if whole:
            del headers["Range"]
        if not server_checks.same_origin(self.url, self.endpoint):
            headers.pop("authorization", None)  # a CDN or storage host must not see the token
        items = transfer.stream(
            self.session,
            self.url,
            headers,
            timeout=self.timeout,
            stall_timeout=self.stall_timeout,
            endpoint=self.endpoint,
            cancelled=self.cancelled,
        )
        written = 0
        with contextlib.closing(items), contextlib.ExitStack() as files:
            out = None
            for kind, value in items:
                if kind == "response":
                    if not whole:
                        self._check_range(value, start, end)
                    out = files.enter_context(part.open("ab"))
                    continue
                assert out is not None
                if written + len(value) > end - start:
                    raise DownloadError(
                        f"The server sent more than the {end - start} bytes asked for of {self.what}.",
                        UNSAFE_HINT,
                    )
                out.write(value)
                out.flush()
                written += len(value)
                self.fetched += len(value)
                if self.on_bytes is not None:
                    self.on_bytes(len(value))
                if end - start - written > FINISH_BYTES and self.cancelled():
                    raise Cancelled()
        return written

    def _check_range(self, response: object, start: int, end: int) -> None:
        status = getattr(response, "status_code", 0)
        headers = getattr(response, "headers", {})
        if status == 200:
            refused = NoRanges(
                f"The server does not send parts of files, so the image encoder could only be had from "
                f"{self.what} by downloading all {human(self.size)} of it.",
                "Try again later, or from a mirror that does (HF_ENDPOINT).",
            )
            refused.size = self.size
            raise refused
        m = re.fullmatch(r"bytes (\d+)-(\d+)/(\d+|\*)", headers.get("Content-Range", ""))
        if status != 206 or m is None or (int(m.group(1)), int(m.group(2)) + 1) != (start, end):
            raise Truncated(f"the server answered HTTP {status} with {headers.get('Content-Range')!r}")
        if m.group(3) != "*" and int(m.group(3)) != self.size:
            raise DownloadError(
                f"{self.what} changed on the server while parts of it were fetched.",
                "Try again: the fetch starts over.",
            )
