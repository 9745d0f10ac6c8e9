"""One file at a time from the server into the cache: HTTP Range resume, hashing, retries, cancel.

Each file is checked against a hash before it enters the cache: the ETag when it is one (huggingface_hub's
``X-Linked-Etag`` for an LFS file, the git id for a small one), else the hash the file listing gives. A
file neither names is kept under the sha256 of what arrived, recorded as unverified, and said.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from wuerstchen_desktop.core.errors import Cancelled, DownloadError, NotEnoughSpace
from wuerstchen_desktop.core.hub import cache_layout, server_checks, transfer
from wuerstchen_desktop.core.hub.http_failures import (
    FOLDER_HINT,
    SPACE_HINT,
    UNSAFE_HINT,
    Retry,
    Stalled,
    Truncated,
)
from wuerstchen_desktop.core.hub.transfer import LinkRefused
from wuerstchen_desktop.core.hub.units import human

if TYPE_CHECKING:
    from wuerstchen_desktop.core.hub.download import DownloadPlan, RemoteFile, RepoPlan, _Meter

log = logging.getLogger(__name__)

ATTEMPTS = 2  # whole-file tries when a file arrives damaged or longer than its size
RELINKS = 3  # new download links asked for when a CDN refuses one (an expired signed URL)


class Overlong(Exception):
    """The server sent more bytes than the file's size.

    Not a WuerstchenError: the file is fetched again; a DownloadError says so after the last try."""


class Fetcher:
    def __init__(
        self,
        plan: DownloadPlan,
        meter: _Meter,
        cancelled: Callable[[], bool],
        timeout: float,
        stall_timeout: float,
        retries: int,
        backoff: float,
    ) -> None:
        from huggingface_hub import constants
        from huggingface_hub.utils import build_hf_headers, get_session

        self.plan, self.meter, self.cancelled = plan, meter, cancelled
        self.timeout, self.stall_timeout = timeout, stall_timeout
        self.retries, self.backoff = retries, backoff
        self.endpoint = (plan.endpoint or constants.ENDPOINT).rstrip("/")
        self.headers = build_hf_headers(token=plan.token)
        self.session = get_session()

    def _check(self) -> None:
        if self.cancelled():
            raise Cancelled()

    def _retry(self, name: str) -> Retry:
        def notify(note: str) -> None:
            self.meter.add(0, name, fetched=False, phase="waiting", force=True, note=note)

        return Retry(self.retries, self.backoff, self.cancelled, notify)

    def repo(self, repo: RepoPlan) -> Path:
        rdir = cache_layout.repo_dir(self.plan.cache, repo.repo_id, repo.repo_type)
        manifest = cache_layout.read_manifest(rdir, repo.commit) or {}
        manifest = {"repo_id": repo.repo_id, "commit": repo.commit, "files": manifest.get("files", {})}
        for f in repo.files:
            manifest["files"].setdefault(f.path, {"size": f.size, "verified": False})
        cache_layout.write_manifest(rdir, repo.commit, manifest)
        cache_layout.write_ref(rdir, repo.revision, repo.commit)
        unverified = []
        for f in repo.files:
            self._check()
            done = manifest["files"][f.path]
            there = (rdir / "snapshots" / repo.commit / f.path).exists()
            if done.get("etag") and there and not done.get("unverified"):
                self.meter.add(f.size, f.path, fetched=False)
                continue
            manifest["files"][f.path] = entry = self.file(repo, f, rdir, done)
            cache_layout.write_manifest(rdir, repo.commit, manifest)
            if entry.get("unverified"):
                unverified.append(f.path)
        if unverified:
            n = len(unverified)
            shown = ", ".join(unverified[:3]) + (f" and {n - 3} more" if n > 3 else "")
            which = f"{n} files of {repo.repo_id} ({shown})" if n > 1 else f"{repo.repo_id}/{shown}"
            text = (
                f"{which} could not be verified: the server gives no checksum, so a damaged or altered "
                "copy would go unnoticed. A mirror that serves the Hub's checksums lets them be checked."
            )
            log.warning("%s", text)
            self.plan.warnings.append(text)
        return rdir / "snapshots" / repo.commit

    def _metadata(self, repo: RepoPlan, f: RemoteFile) -> tuple[str, str | None, int]:
        """``(url to fetch, hash to check, size)`` from the resolve endpoint's HEAD and the listing."""
        prefix = cache_layout.url_prefix(repo.repo_type)
        url = f"{self.endpoint}/{prefix}{repo.repo_id}/resolve/{repo.commit}/{quote(f.path)}"
        what = f"{repo.repo_id}/{f.path}"
        meta = transfer.file_metadata(
            url, self.headers, self.timeout, self.cancelled, self._retry(f.path), what
        )
        try:
            header = server_checks.checksum(meta.etag)
            location = server_checks.location(url, meta.location)
        except ValueError as exc:
            raise DownloadError(f"The server sent an {exc} for {what}.", UNSAFE_HINT) from exc
        expected = header or f.etag
        if header and f.etag and header != f.etag:
            if len(f.etag) > len(header):  # a sha1 where the listing has the sha256: the LFS pointer's id
                expected = f.etag
            else:
                log.warning(
                    "%s: listing says %s, the file endpoint %s; trusting the file", f.path, f.etag, header
                )
        size = meta.size if meta.size is not None and meta.size >= 0 else f.size
        return location, expected, size

    def file(self, repo: RepoPlan, f: RemoteFile, rdir: Path, done: dict[str, Any]) -> dict[str, Any]:
        """Fetch one file into the cache; return its manifest entry."""
        from huggingface_hub.utils import WeakFileLock

        url, expected, size = self._metadata(repo, f)
        # Without a hash to check, the part is named after the file; the blob, after what arrived.
        key = expected or hashlib.sha256(f"{repo.commit}/{f.path}".encode()).hexdigest()
        blob = rdir / "blobs" / key
        blob.parent.mkdir(parents=True, exist_ok=True)
        lock = self.plan.cache / ".locks" / rdir.name / f"{key}.lock"
        lock.parent.mkdir(parents=True, exist_ok=True)
        with WeakFileLock(str(lock)):
            if expected is None:
                kept = rdir / "blobs" / str(done.get("etag"))
                if cache_layout.SHA256.match(kept.name) and kept.is_file() and kept.stat().st_size == size:
                    self.meter.add(size, f.path, fetched=False)
                    cache_layout.place(rdir, repo.commit, f.path, kept.name)
                    return {"etag": kept.name, "size": size, "verified": False, "unverified": _NO_HASH}
            elif blob.exists():  # fetched before, perhaps by another tool: verify, and fetch again if damaged
                ok = cache_layout.file_matches(blob, expected, self.cancelled)
                if ok and blob.stat().st_size == size:
                    self.meter.add(size, f.path, fetched=False, phase="verifying")
                    cache_layout.place(rdir, repo.commit, f.path, expected)
                    return {"etag": expected, "size": size, "verified": True}
                log.warning("%s in the cache is damaged; fetching it again", blob)
                blob.unlink()
            part = blob.with_name(key + cache_layout.PART_SUFFIX)
            self._room(part, size, f.path)
            digest = self._whole(repo, f, url, part, size, key, expected)
            os.replace(part, rdir / "blobs" / digest)
            cache_layout.place(rdir, repo.commit, f.path, digest)
        if expected is None:
            return {"etag": digest, "size": size, "verified": False, "unverified": _NO_HASH}
        return {"etag": digest, "size": size, "verified": True}

    def _room(self, part: Path, size: int, name: str) -> None:
        """The server's size, not only the listing's, must fit: a mirror could announce any."""
        need = size - (part.stat().st_size if part.exists() else 0)
        free = shutil.disk_usage(part.parent).free
        if need > free:
            raise NotEnoughSpace(
                f"Not enough disk space for {name}: the server says it is {human(size)}, and "
                f"{self.plan.cache} has {human(free)} free.",
                SPACE_HINT,
            )

    def _whole(
        self, repo: RepoPlan, f: RemoteFile, url: str, part: Path, size: int, key: str, expected: str | None
    ) -> str:
        """Bring ``part`` to the whole file and return its hash; tried again if damaged or overlong."""
        what = f"{repo.repo_id}/{f.path}"
        for attempt in range(ATTEMPTS):
            st = _State(cache_layout.hasher_for(key, size), 0, 0, key)
            try:
                url = self._transfer(repo, f, url, part, size, st)
                digest = str(st.hash.hexdigest())
                if expected is None or digest == expected:
                    return digest
                problem = "arrived damaged (checksum mismatch)"
                error = (
                    f"{what} arrived damaged {ATTEMPTS} times: its hash does not match the server's checksum."
                )
            except Overlong:
                problem = f"was longer than the {size} bytes the server announced"
                error = (
                    f"The server sent more than the {size} bytes it announced for {what}, {ATTEMPTS} times."
                )
            part.unlink(missing_ok=True)
            self.meter.add(-st.counted, f.path, fetched=False)
            log.warning("%s %s; fetching it again", f.path, problem)
            if attempt == ATTEMPTS - 1:
                raise DownloadError(
                    error, "Try again later, or from another network or mirror. " + FOLDER_HINT
                )
        raise AssertionError("unreachable")

    def _transfer(self, repo: RepoPlan, f: RemoteFile, url: str, part: Path, size: int, st: _State) -> str:
        """Bring ``part`` to ``size`` bytes from ``url``, continuing from what it holds; return the url
        used last (a new one when the old one expired)."""
        import httpx2

        name = f.path
        retry = self._retry(name)
        relinks = 0
        while True:
            self._check()
            offset = part.stat().st_size if part.exists() else 0
            if offset > size:
                part.unlink()
                offset = 0
            self.meter.add(offset - st.counted, name, fetched=False)
            st.counted = offset
            if st.hashed != offset:  # continuing an earlier try: hash what is already there
                st.hash, st.hashed = _hash_prefix(part, st.key, size, self.cancelled)
            if offset == size:
                return url
            try:
                self._get(url, part, offset, size, name, st)
                if st.counted < size:
                    raise Truncated(f"the answer ended after {st.counted} of {size} bytes")
            except LinkRefused as exc:  # a signed link that expired: the Hub hands out a new one
                relinks += 1
                if relinks > RELINKS:
                    raise DownloadError(
                        f"The download link for {repo.repo_id}/{name} was refused ({exc}), also after asking "
                        f"the server for a new one {RELINKS} times.",
                        "The server's storage refuses its own links: try again later, or another mirror. "
                        + FOLDER_HINT,
                    ) from exc
                log.info("%s: the download link was refused (%s); asking for a new one", name, exc)
                url, expected, new_size = self._metadata(repo, f)
                if new_size != size or (expected or st.key) != st.key:
                    raise DownloadError(
                        f"{repo.repo_id}/{name} changed on the server during the download.",
                        "Try again: the download starts that file over.",
                    ) from exc
            except (Overlong, Cancelled, DownloadError):
                raise
            except Exception as exc:
                if st.counted > offset:
                    retry.failures = 0
                if isinstance(exc, httpx2.ReadTimeout):
                    exc = Stalled(f"the server sent nothing for {self.stall_timeout:g} s")
                retry.failed(exc, name)

    def _get(self, url: str, part: Path, offset: int, size: int, name: str, st: _State) -> None:
        """One GET from ``offset``, appended to ``part`` and to the running hash."""
        headers = {**self.headers, "Accept-Encoding": "identity"}
        if not server_checks.same_origin(url, self.endpoint):
            headers.pop("authorization", None)  # a CDN or storage host must not see the token
        if offset:
            headers["Range"] = f"bytes={offset}-"
        items = transfer.stream(
            self.session,
            url,
            headers,
            timeout=self.timeout,
            stall_timeout=self.stall_timeout,
            endpoint=self.endpoint,
            cancelled=self.cancelled,
        )
        with contextlib.closing(items), contextlib.ExitStack() as files:
            out = None
            for kind, value in items:
                if kind == "response":
                    mode = "ab"
                    start = _range_start(value)
                    if start not in (0, offset):
                        raise Truncated(f"the server answered with bytes from {start}, not from {offset}")
                    if offset and start != offset:  # the server ignored Range: start over
                        log.info("%s: the server does not resume; starting again", name)
                        self.meter.add(-st.counted, name, fetched=False)
                        st.counted, st.hashed, st.hash = 0, 0, cache_layout.hasher_for(st.key, size)
                        mode = "wb"
                    length = value.headers.get("Content-Length", "")
                    if length.isdigit() and st.counted + int(length) > size:
                        raise Overlong()
                    out = files.enter_context(part.open(mode))
                    continue
                assert out is not None
                if st.counted + len(value) > size:
                    raise Overlong()
                out.write(value)
                out.flush()
                st.hash.update(value)
                st.hashed += len(value)
                st.counted += len(value)
                self.meter.add(len(value), name)
                self._check()


_NO_HASH = "the server gave no checksum (its ETag is no hash and the file listing has none)"


def _range_start(response: Any) -> int:
    """Where a 206 answer's body starts in the file; 0 for a whole-file answer."""
    if response.status_code != 206:
        return 0
    m = re.match(r"bytes (\d+)-", response.headers.get("Content-Range", ""))
    return int(m.group(1)) if m else -1


@dataclass
class _State:
    hash: Any
    hashed: int  # bytes of the part file the hash has seen
    counted: int  # bytes of the part file the progress meter has counted
    key: str  # the hash the part is checked against, or its name when there is none (then a sha256)


def _hash_prefix(part: Path, key: str, size: int, cancelled: Callable[[], bool]) -> tuple[Any, int]:
    h = cache_layout.hasher_for(key, size)
    return h, cache_layout.hash_into(h, part, cancelled) if part.exists() else 0
