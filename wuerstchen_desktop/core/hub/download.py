"""Download checkpoints into the standard Hugging Face cache: resumable, verified, cancellable.

huggingface_hub lists the repository, builds the headers (token, user agent) and the HTTP session (proxies
from the environment, ``HF_HUB_OFFLINE``). The bytes are fetched here, with HTTP ``Range`` into
``blobs/<etag>.incomplete``, so a download interrupted by a dropped connection or a killed process continues
from what is on disk, which huggingface_hub 2.x no longer does across processes. Every file is hashed
against its ETag (the sha256 of an LFS file), or the listing's hash when the ETag is none, before it enters
the cache; every name a server sends is checked before it becomes a path (core/hub/server_checks.py). No torch
import here: the command line and the GUI can plan a download before the heavy libraries load.
"""

from __future__ import annotations

import collections
import functools
import logging
import shutil
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from wuerstchen_desktop.core.errors import Cancelled, DownloadError, NotEnoughSpace, Unreachable
from wuerstchen_desktop.core.hub import cache_layout, catalogue, server_checks
from wuerstchen_desktop.core.hub.http_failures import (
    FOLDER_HINT,
    RETRY_HINT,
    SPACE_HINT,
    UNSAFE_HINT,
    Retry,
    short,
)
from wuerstchen_desktop.core.hub.units import human

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DownloadProgress:
    """Reported while downloading; ``speed`` in bytes/s and ``eta`` in seconds (None until known)."""

    done: int
    total: int
    speed: float
    eta: float | None
    file: str
    phase: str = "downloading"  # or "verifying", or "waiting" (the server asked for a pause)
    note: str = ""  # while waiting: why, and for how long, in a sentence


ProgressCallback = Callable[[DownloadProgress], None]
CancelToken = threading.Event | Callable[[], bool] | None


@dataclass(frozen=True)
class RemoteFile:
    path: str
    size: int
    etag: str | None  # the sha256 of an LFS file or the git id of a small one, as the listing gives it
    on_disk: int = 0  # bytes already in the cache: the whole file, or a partial download


@dataclass(frozen=True)
class RepoPlan:
    repo_id: str
    revision: str
    commit: str
    files: tuple[RemoteFile, ...]
    repo_type: str = "model"  # or "space"
    optional: bool = False  # a failure to fetch it is a warning, not an error

    @property
    def size(self) -> int:
        return sum(f.size for f in self.files)


@dataclass(frozen=True)
class DownloadPlan:
    """What a download will fetch, and whether it fits; shown to the user before it starts."""

    repos: tuple[RepoPlan, ...]
    cache: Path
    free: int
    endpoint: str | None = None
    token: str | bool | None = None
    # Sentences about optional repositories left out: by ``plan``, and by ``download`` when one fails.
    warnings: list[str] = field(default_factory=list, compare=False)

    @property
    def total(self) -> int:
        return sum(f.size for r in self.repos for f in r.files)

    @property
    def on_disk(self) -> int:
        return sum(min(f.on_disk, f.size) for r in self.repos for f in r.files)

    @property
    def to_fetch(self) -> int:
        return self.total - self.on_disk

    @property
    def fits(self) -> bool:
        return self.free >= self.to_fetch

    def describe(self) -> str:
        have = f" ({human(self.on_disk)} already on disk)" if self.on_disk else ""
        return f"To download: {human(self.to_fetch)}{have}; free space in {self.cache}: {human(self.free)}."


def _cancel_check(cancel: CancelToken) -> Callable[[], bool]:
    if cancel is None:
        return lambda: False
    if isinstance(cancel, threading.Event):
        return cancel.is_set
    return cancel


# -- planning --------------------------------------------------------------------------------------
def plan(
    repo_ids: Sequence[str],
    *,
    optional: Sequence[str] = (),
    cache_dir: Path | str | None = None,
    endpoint: str | None = None,
    token: str | bool | None = None,
    timeout: float = 10.0,
    retries: int = 3,
    backoff: float = 1.0,
    cancel: CancelToken = None,
) -> DownloadPlan:
    """List each repository at its catalogue revision and compare with what the cache already holds.

    ``repo_ids`` are model repositories; a failure to list one raises DownloadError. ``optional`` names
    entries of ``catalogue.OPTIONAL`` (the live-preview model): one already complete in the cache is left
    out without a request, and one that cannot be listed (no network, HTTP 404, offline mode) is left out
    with a sentence in ``DownloadPlan.warnings`` instead of an error. They come last in the plan.
    ``cancel`` stops a wait on the server (a slow answer, a ``Retry-After``) within about a second.
    """
    from huggingface_hub import HfApi

    cache = cache_layout.cache_root(cache_dir)
    api = HfApi(endpoint=endpoint, token=token)
    retry = functools.partial(Retry, retries, backoff, _cancel_check(cancel))
    repos = [_plan_repo(api, cache, repo_id, "model", False, timeout, retry) for repo_id in repo_ids]
    warnings: list[str] = []
    for repo_id in optional:
        entry = catalogue.OPTIONAL.get(repo_id)
        if entry is None:
            raise ValueError(f"{repo_id} is not an optional repository of the catalogue")
        if cache_layout.local_status(repo_id, entry.revision, cache, entry.repo_type).complete:
            continue
        try:
            repos.append(_plan_repo(api, cache, repo_id, entry.repo_type, True, timeout, retry))
        except DownloadError as exc:
            warnings.append(_optional_warning(repo_id, exc))
    cache.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(cache).free
    return DownloadPlan(tuple(repos), cache, free, endpoint, token, warnings)


def _optional_warning(repo_id: str, exc: Exception) -> str:
    """The sentence for an optional repository left out, logged as a warning too."""
    entry = catalogue.OPTIONAL.get(repo_id)
    reason = exc.message if isinstance(exc, DownloadError) else short(exc)
    name = f"{entry.label} ({repo_id})" if entry is not None else repo_id
    text = f"{name} was not downloaded: {reason.rstrip('.')}."
    if entry is not None and entry.without:
        text += f" Without it, {entry.without}."
    log.warning("%s", text)
    return text


def _plan_repo(
    api: Any,
    cache: Path,
    repo_id: str,
    repo_type: str,
    optional: bool,
    timeout: float,
    retries: Callable[[], Retry],
) -> RepoPlan:
    import httpx2

    from wuerstchen_desktop.core.hub import transfer

    revision = catalogue.revision_for(repo_id, repo_type)
    retry = retries()
    while True:
        try:
            info = transfer.call(
                lambda: api.repo_info(
                    repo_id, repo_type=repo_type, revision=revision, files_metadata=True, timeout=timeout
                ),
                retry.cancelled,
            )
            break
        except Cancelled:
            raise
        except httpx2.ConnectError as exc:  # no route, refused, no name: nothing to wait for
            raise Unreachable(
                f"Could not download {repo_id}: cannot reach {api.endpoint} ({short(exc)}).",
                RETRY_HINT + " " + FOLDER_HINT,
            ) from exc
        except Exception as exc:
            retry.failed(exc, repo_id)
    siblings = {s.rfilename: s for s in info.siblings or []}
    for name in siblings:  # every listed name, wanted or not: one that climbs out betrays the server
        _checked(repo_id, "file name", server_checks.repo_path, name)
    paths, missing = catalogue.wanted(repo_id, list(siblings), repo_type)
    if missing or not info.sha:
        raise DownloadError(
            f"The server's copy of {repo_id} lacks {', '.join(missing) or 'a commit id'}.",
            "Check HF_ENDPOINT, or try again later. " + FOLDER_HINT,
        )
    commit = _checked(repo_id, "commit id", server_checks.commit, info.sha)
    rdir = cache_layout.repo_dir(cache, repo_id, repo_type)
    manifest = cache_layout.read_manifest(rdir, commit) or {"files": {}}
    entry = catalogue.lookup(repo_id, repo_type)
    files = []
    for path in paths:
        s = siblings[path]
        known = entry.file(path) if entry is not None else None
        size = s.lfs.size if s.lfs else s.size
        size = size if isinstance(size, int) and size >= 0 else (known.size if known is not None else 0)
        etag = _checked(repo_id, "checksum", server_checks.checksum, s.lfs.sha256 if s.lfs else s.blob_id)
        files.append(RemoteFile(path, size, etag, _on_disk(rdir, commit, path, etag, size, manifest)))
    return RepoPlan(repo_id, revision, commit, tuple(files), repo_type, optional)


def _checked(repo_id: str, what: str, check: Callable[[Any], Any], value: object) -> Any:
    """``check(value)``, or the error that says the server named something unsafe."""
    try:
        return check(value)
    except ValueError as exc:
        raise DownloadError(f"The server listed an unsafe {what} for {repo_id}: {exc}.", UNSAFE_HINT) from exc


def _on_disk(
    rdir: Path, commit: str, path: str, etag: str | None, size: int, manifest: dict[str, Any]
) -> int:
    done = manifest["files"].get(path, {})
    if done.get("etag") and (rdir / "snapshots" / commit / path).exists():
        return size
    if etag is None:
        return 0
    blob = rdir / "blobs" / etag
    if blob.exists():
        return blob.stat().st_size
    part = blob.with_name(etag + cache_layout.PART_SUFFIX)
    return part.stat().st_size if part.exists() else 0


# -- downloading -----------------------------------------------------------------------------------
@dataclass
class _Meter:
    """Bytes done of the whole plan, speed over the last few seconds, reported at most 5 times a second."""

    total: int
    callback: ProgressCallback | None
    done: int = 0
    samples: collections.deque[tuple[float, int]] = field(default_factory=collections.deque)
    fetched: int = 0
    last: float = 0.0

    def add(
        self,
        n: int,
        file: str,
        fetched: bool = True,
        phase: str = "downloading",
        force: bool = False,
        note: str = "",
    ) -> None:
        self.done += n
        now = time.monotonic()
        if fetched:
            self.fetched += n
            self.samples.append((now, self.fetched))
            while len(self.samples) > 2 and now - self.samples[0][0] > 5.0:
                self.samples.popleft()
        if self.callback is None or (not force and now - self.last < 0.2):
            return
        self.last = now
        speed = 0.0
        if len(self.samples) >= 2 and self.samples[-1][0] > self.samples[0][0]:
            (t0, b0), (t1, b1) = self.samples[0], self.samples[-1]
            speed = (b1 - b0) / (t1 - t0)
        eta = (self.total - self.done) / speed if speed > 0 else None
        self.callback(DownloadProgress(self.done, self.total, speed, eta, file, phase, note))


def download(
    the_plan: DownloadPlan,
    *,
    on_progress: ProgressCallback | None = None,
    cancel: CancelToken = None,
    timeout: float = 10.0,
    stall_timeout: float = 30.0,
    retries: int = 5,
    backoff: float = 1.0,
) -> list[Path]:
    """Fetch what ``the_plan`` lacks; return each repository's snapshot folder.

    Raises NotEnoughSpace before fetching anything, DownloadError after ``retries`` failed tries in a row,
    Cancelled within about a second of ``cancel``. Partial files stay in the cache for the next try. An
    optional repository that fails is left out of the result and said in ``the_plan.warnings`` (and the
    log); the progress total then drops its size, so the last report still has ``done == total``.
    """
    if not the_plan.fits:
        raise NotEnoughSpace(
            f"Not enough disk space: the download needs {human(the_plan.to_fetch)}, and {the_plan.cache} "
            f"has {human(the_plan.free)} free.",
            SPACE_HINT,
        )
    from wuerstchen_desktop.core.hub.fetch import Fetcher

    cancelled = _cancel_check(cancel)
    meter = _Meter(the_plan.total, on_progress)
    fetcher = Fetcher(the_plan, meter, cancelled, timeout, stall_timeout, retries, backoff)
    snapshots = []
    for repo in the_plan.repos:
        if not repo.optional:
            snapshots.append(fetcher.repo(repo))
            continue
        before = meter.done
        try:
            snapshots.append(fetcher.repo(repo))
        except Cancelled:
            raise
        except Exception as exc:  # an optional extra never fails the download of the models
            log.debug("optional download of %s failed", repo.repo_id, exc_info=True)
            meter.total -= repo.size
            meter.add(before - meter.done, "", fetched=False)
            the_plan.warnings.append(_optional_warning(repo.repo_id, exc))
    meter.add(0, "", fetched=False, force=True)
    return snapshots


def ensure(
    repo_ids: Sequence[str],
    *,
    optional: Sequence[str] = (),
    cache_dir: Path | str | None = None,
    endpoint: str | None = None,
    token: str | bool | None = None,
    on_progress: ProgressCallback | None = None,
    cancel: CancelToken = None,
    timeout: float = 10.0,
    stall_timeout: float = 30.0,
    retries: int = 5,
    backoff: float = 1.0,
) -> list[Path]:
    """Plan and download in one call; what is already complete on disk is not fetched again.

    Returns the snapshot folders of ``repo_ids`` and of the optional repositories fetched, in that order;
    what went wrong with an optional one is logged as a warning.
    """
    the_plan = plan(
        repo_ids,
        optional=optional,
        cache_dir=cache_dir,
        endpoint=endpoint,
        token=token,
        timeout=timeout,
        retries=min(retries, 3),
        backoff=backoff,
        cancel=cancel,
    )
    return download(
        the_plan,
        on_progress=on_progress,
        cancel=cancel,
        timeout=timeout,
        stall_timeout=stall_timeout,
        retries=retries,
        backoff=backoff,
    )
