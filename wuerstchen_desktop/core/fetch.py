"""One file at a time from the server into the cache: HTTP Range resume, hashing, retries, cancel."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from wuerstchen_desktop.core import hubcache
from wuerstchen_desktop.core.download import (
    POLL_S,
    DownloadError,
    RemoteFile,
    RepoPlan,
    Stalled,
    _Retry,
)
from wuerstchen_desktop.core.errors import Cancelled

if TYPE_CHECKING:
    from wuerstchen_desktop.core.download import DownloadPlan, _Meter

log = logging.getLogger(__name__)


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

    def repo(self, repo: RepoPlan) -> Path:
        rdir = hubcache.repo_dir(self.plan.cache, repo.repo_id, repo.repo_type)
        manifest = hubcache.read_manifest(rdir, repo.commit) or {}
        manifest = {"repo_id": repo.repo_id, "commit": repo.commit, "files": manifest.get("files", {})}
        for f in repo.files:
            manifest["files"].setdefault(f.path, {"size": f.size, "verified": False})
        hubcache.write_manifest(rdir, repo.commit, manifest)
        hubcache.write_ref(rdir, repo.revision, repo.commit)
        for f in repo.files:
            self._check()
            done = manifest["files"][f.path]
            if done.get("etag") and (rdir / "snapshots" / repo.commit / f.path).exists():
                self.meter.add(f.size, f.path, fetched=False)
                continue
            etag, size = self.file(repo, f, rdir)
            checked = hubcache.hasher_for(etag, size) is not None
            manifest["files"][f.path] = {"etag": etag, "size": size, "verified": checked}
            hubcache.write_manifest(rdir, repo.commit, manifest)
        return rdir / "snapshots" / repo.commit

    def _metadata(self, repo: RepoPlan, f: RemoteFile) -> tuple[str, str, int]:
        """``(url to fetch, etag, size)`` from the resolve endpoint's HEAD, as huggingface_hub reads it."""
        from huggingface_hub import get_hf_file_metadata

        prefix = hubcache.url_prefix(repo.repo_type)
        url = f"{self.endpoint}/{prefix}{repo.repo_id}/resolve/{repo.commit}/{quote(f.path)}"
        retry = _Retry(self.retries, self.backoff, self.cancelled)
        while True:
            self._check()
            try:
                meta = get_hf_file_metadata(url, timeout=self.timeout, headers=dict(self.headers))
                break
            except Exception as exc:
                retry.failed(exc, f"{repo.repo_id}/{f.path}")
        etag = meta.etag or f.etag
        if not etag:
            raise DownloadError(
                f"The server gave no checksum for {repo.repo_id}/{f.path}.", "Check HF_ENDPOINT."
            )
        if f.etag and etag != f.etag:
            log.warning("%s: listing says %s, the file endpoint %s; trusting the file", f.path, f.etag, etag)
        size = meta.size if meta.size is not None else f.size
        return meta.location or url, etag, size

    def file(self, repo: RepoPlan, f: RemoteFile, rdir: Path) -> tuple[str, int]:
        from huggingface_hub.utils import WeakFileLock

        url, etag, size = self._metadata(repo, f)
        blob = rdir / "blobs" / etag
        blob.parent.mkdir(parents=True, exist_ok=True)
        lock = self.plan.cache / ".locks" / rdir.name / f"{etag}.lock"
        lock.parent.mkdir(parents=True, exist_ok=True)
        with WeakFileLock(str(lock)):
            if blob.exists():  # fetched before, perhaps by another tool: verify, and fetch again if damaged
                ok = hubcache.file_matches(blob, etag, self.cancelled)
                if ok is not False and blob.stat().st_size == size:
                    self.meter.add(size, f.path, fetched=False, phase="verifying")
                    hubcache.place(rdir, repo.commit, f.path, etag)
                    return etag, size
                log.warning("%s in the cache is damaged; fetching it again", blob)
                blob.unlink()
            part = blob.with_name(etag + hubcache.PART_SUFFIX)
            for attempt in range(2):
                h = self._transfer(url, part, size, etag, f.path)
                if h is None or h.hexdigest() == etag:
                    os.replace(part, blob)
                    hubcache.place(rdir, repo.commit, f.path, etag)
                    return etag, size
                part.unlink()
                self.meter.add(-size, f.path, fetched=False)
                log.warning("%s arrived damaged (checksum mismatch); fetching it again", f.path)
                if attempt == 1:
                    raise DownloadError(
                        f"{repo.repo_id}/{f.path} arrived damaged twice: its sha256 does not match the "
                        "server's checksum.",
                        "Try again later, or from another network or mirror.",
                    )
        raise AssertionError("unreachable")

    def _transfer(self, url: str, part: Path, size: int, etag: str, name: str) -> Any:
        """Bring ``part`` to ``size`` bytes from ``url``, continuing from what it holds. Returns its hash."""
        import httpx2

        retry = _Retry(self.retries, self.backoff, self.cancelled)
        st = _State(hubcache.hasher_for(etag, size), 0, 0, time.monotonic(), etag)
        while True:
            self._check()
            offset = part.stat().st_size if part.exists() else 0
            if offset > size:
                part.unlink()
                offset = 0
            self.meter.add(offset - st.counted, name, fetched=False)
            st.counted = offset
            if st.hashed != offset:  # continuing an earlier try: hash what is already there
                st.hash, st.hashed = _hash_prefix(part, etag, size, self.cancelled)
            if offset == size:
                return st.hash
            try:
                self._get(url, part, offset, size, name, st)
            except httpx2.ReadTimeout as exc:  # silence: cancel is checked, then the next GET resumes
                if time.monotonic() - st.last_byte >= self.stall_timeout:
                    st.last_byte = time.monotonic()
                    stalled = Stalled(f"the server sent nothing for {self.stall_timeout:g} s")
                    retry.failed(stalled, name)
                del exc
            except Exception as exc:
                if st.counted > offset:
                    retry.failures = 0
                retry.failed(exc, name)

    def _get(self, url: str, part: Path, offset: int, size: int, name: str, st: _State) -> None:
        """One GET from ``offset``, appended to ``part`` and to the running hash."""
        import httpx2
        from huggingface_hub.utils import hf_raise_for_status

        headers = {**self.headers, "Accept-Encoding": "identity"}
        if not url.startswith(self.endpoint + "/"):
            headers.pop("authorization", None)  # a CDN or storage host must not see the token
        if offset:
            headers["Range"] = f"bytes={offset}-"
        timeout = httpx2.Timeout(self.timeout, read=min(POLL_S, self.stall_timeout))
        with self.session.stream("GET", url, headers=headers, timeout=timeout) as r:
            if r.status_code >= 400:
                r.read()
                hf_raise_for_status(r)
            mode = "ab"
            if offset and r.status_code != 206:  # the server ignored Range: start the file over
                log.info("%s: the server does not resume; starting again", name)
                self.meter.add(-st.counted, name, fetched=False)
                st.counted, st.hashed, st.hash = 0, 0, hubcache.hasher_for(st.etag, size)
                mode = "wb"
            with part.open(mode) as out:
                for chunk in r.iter_bytes():
                    out.write(chunk)
                    out.flush()
                    if st.hash is not None:
                        st.hash.update(chunk)
                    st.hashed += len(chunk)
                    st.counted += len(chunk)
                    st.last_byte = time.monotonic()
                    self.meter.add(len(chunk), name)
                    if st.counted > size:
                        return
                    self._check()


@dataclass
class _State:
    hash: Any
    hashed: int  # bytes of the part file the hash has seen
    counted: int  # bytes of the part file the progress meter has counted
    last_byte: float
    etag: str = ""


def _hash_prefix(part: Path, etag: str, size: int, cancelled: Callable[[], bool]) -> tuple[Any, int]:
    h = hubcache.hasher_for(etag, size)
    n = 0
    if part.exists():
        with part.open("rb") as f:
            while chunk := f.read(1 << 22):
                if cancelled():
                    raise Cancelled()
                if h is not None:
                    h.update(chunk)
                n += len(chunk)
    return h, n
