"""The standard Hugging Face cache layout, read and written without the network.

``<cache>/models--owner--name/`` (``spaces--owner--name/`` for a Space) holds ``blobs/<etag>`` (the
sha256 of an LFS file, the git sha1 of a small one), ``snapshots/<commit>/<path>`` (a relative symlink to
the blob, or a copy where links are not allowed) and ``refs/<revision>`` (the commit). Files another tool
downloaded there are found and reused. What this app verified is recorded in ``.wuerstchen/<commit>.json``
beside those folders, which other tools ignore.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from wuerstchen_desktop.core.atomicfile import replace_atomic
from wuerstchen_desktop.core.hub import catalogue, server_checks
from wuerstchen_desktop.core.hub.server_checks import COMMIT as COMMIT
from wuerstchen_desktop.core.hub.server_checks import SHA256 as SHA256

PART_SUFFIX = ".incomplete"


def cache_root(cache_dir: Path | str | None = None) -> Path:
    """``cache_dir``, or the cache huggingface_hub uses (``HF_HUB_CACHE``, else ``HF_HOME/hub``)."""
    if cache_dir is not None:
        return Path(cache_dir).expanduser()
    from huggingface_hub import constants

    return Path(constants.HF_HUB_CACHE)


# The cache folder's prefix and the URL prefix on the Hub, per repository type, as huggingface_hub has them.
CACHE_PREFIXES = {"model": "models--", "dataset": "datasets--", "space": "spaces--"}
URL_PREFIXES = {"model": "", "dataset": "datasets/", "space": "spaces/"}


def _check_type(repo_type: str) -> str:
    if repo_type not in CACHE_PREFIXES:
        raise ValueError(f"unknown repository type {repo_type!r}")
    return repo_type


def repo_dir(cache: Path, repo_id: str, repo_type: str = "model") -> Path:
    return cache / (CACHE_PREFIXES[_check_type(repo_type)] + repo_id.replace("/", "--"))


def url_prefix(repo_type: str = "model") -> str:
    """What comes before ``owner/name`` in a file's URL on the Hub: nothing for a model, ``spaces/`` for a
    Space."""
    return URL_PREFIXES[_check_type(repo_type)]


def read_ref(rdir: Path, revision: str) -> str | None:
    if COMMIT.match(revision):
        return revision
    ref = rdir / "refs" / revision
    try:
        commit = ref.read_text(encoding="utf-8").strip()
    except OSError:
        return None
    return commit if COMMIT.match(commit) else None


def write_ref(rdir: Path, revision: str, commit: str) -> None:
    if revision == commit:
        return
    ref = rdir / "refs" / revision
    ref.parent.mkdir(parents=True, exist_ok=True)
    ref.write_text(commit, encoding="utf-8")


def place(rdir: Path, commit: str, path: str, etag: str) -> Path:
    """Point ``snapshots/<commit>/<path>`` at ``blobs/<etag>``: a relative symlink, else a copy.

    ValueError, before anything is written, for names that would leave those folders.
    """
    blob = rdir / "blobs" / etag
    pointer = rdir / "snapshots" / commit / path
    if not (SHA256.match(etag) or COMMIT.match(etag)):
        raise ValueError(f"not a blob name: {etag!r}")
    server_checks.commit(commit)
    server_checks.repo_path(path)
    pointer.parent.mkdir(parents=True, exist_ok=True)
    if pointer.is_symlink() or pointer.exists():
        pointer.unlink()
    try:
        os.symlink(os.path.relpath(blob, pointer.parent), pointer)
    except OSError:  # Windows without developer mode, or a file system without links
        shutil.copyfile(blob, pointer)
    return pointer


def hasher_for(etag: str, size: int) -> Any:
    """A hash object whose hex digest equals ``etag`` for an intact file, or None if it cannot be checked."""
    if SHA256.match(etag):
        return hashlib.sha256()
    if COMMIT.match(etag):  # a git blob id: sha1 over a header and the content
        h = hashlib.sha1()
        h.update(f"blob {size}\0".encode())
        return h
    return None


def hash_into(h: Any, path: Path, cancel: Callable[[], bool] | None = None) -> int:
    """Feed ``path`` to the hash object ``h``; return the bytes read. Cancelled between chunks."""
    n = 0
    with path.open("rb") as f:
        while chunk := f.read(1 << 22):
            if cancel is not None and cancel():
                from wuerstchen_desktop.core.errors import Cancelled

                raise Cancelled()
            h.update(chunk)
            n += len(chunk)
    return n


def file_matches(path: Path, etag: str, cancel: Callable[[], bool] | None = None) -> bool | None:
    """Whether ``path`` hashes to ``etag``; None when ``etag`` is of no known hash kind."""
    h = hasher_for(etag, path.stat().st_size)
    if h is None:
        return None
    hash_into(h, path, cancel)
    return bool(h.hexdigest() == etag)


# -- what this app recorded ------------------------------------------------------------------------
def manifest_path(rdir: Path, commit: str) -> Path:
    return rdir / ".wuerstchen" / f"{commit}.json"


def read_manifest(rdir: Path, commit: str) -> dict[str, Any] | None:
    try:
        data = json.loads(manifest_path(rdir, commit).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and isinstance(data.get("files"), dict) else None


def write_manifest(rdir: Path, commit: str, data: dict[str, Any]) -> None:
    """What this app verified, on disk (fsync) and never half-written."""
    text = json.dumps(data, indent=1, sort_keys=True)
    replace_atomic(text.encode("utf-8"), manifest_path(rdir, commit))


# -- what is on disk -------------------------------------------------------------------------------
@dataclass(frozen=True)
class LocalFile:
    path: str
    size: int  # bytes on disk (for a partial download, the bytes so far)
    present: bool
    verified: bool
    unverified: str | None = None  # why it could not be verified, as the download recorded it


@dataclass(frozen=True)
class LocalStatus:
    """One repository in the cache at the revision the app uses."""

    repo_id: str
    revision: str
    commit: str | None
    snapshot: Path | None
    files: tuple[LocalFile, ...]
    partial_bytes: int  # bytes of interrupted downloads waiting to be continued

    @property
    def complete(self) -> bool:
        return self.snapshot is not None and bool(self.files) and all(f.present for f in self.files)

    @property
    def verified(self) -> bool:
        return self.complete and all(f.verified for f in self.files)

    @property
    def size(self) -> int:
        return sum(f.size for f in self.files if f.present)

    @property
    def unverifiable(self) -> tuple[str, ...]:
        """Files on disk that the download could not check, because nothing named their hash."""
        return tuple(f.path for f in self.files if f.present and f.unverified)


def _expected_paths(
    repo_id: str, snapshot: Path, manifest: dict[str, Any] | None, repo_type: str = "model"
) -> list[str]:
    if manifest is not None:
        return sorted(manifest["files"])
    entry = catalogue.lookup(repo_id, repo_type)
    if entry is not None:
        return [f.path for f in entry.files if f.required or (snapshot / f.path).exists()]
    return sorted(p.relative_to(snapshot).as_posix() for p in snapshot.rglob("*") if p.is_file())


def local_status(
    repo_id: str, revision: str | None = None, cache_dir: Path | str | None = None, repo_type: str = "model"
) -> LocalStatus:
    """What the cache holds of ``repo_id``: never touches the network."""
    revision = revision or catalogue.revision_for(repo_id, repo_type)
    rdir = repo_dir(cache_root(cache_dir), repo_id, repo_type)
    commit = read_ref(rdir, revision)
    snapshot = rdir / "snapshots" / commit if commit else None
    partial = sum(p.stat().st_size for p in (rdir / "blobs").glob("*" + PART_SUFFIX))
    if snapshot is None or commit is None or not snapshot.is_dir():
        return LocalStatus(repo_id, revision, commit, None, (), partial)
    manifest = read_manifest(rdir, commit)
    recorded = manifest["files"] if manifest is not None else {}
    files = []
    for path in _expected_paths(repo_id, snapshot, manifest, repo_type):
        target = snapshot / path
        size = target.stat().st_size if target.exists() else 0
        info = recorded.get(path) or {}
        present = target.exists() and (not info or size == info.get("size"))
        files.append(
            LocalFile(path, size, present, present and bool(info.get("verified")), info.get("unverified"))
        )
    return LocalStatus(repo_id, revision, commit, snapshot, tuple(files), partial)


def local_snapshot(
    repo_id: str, revision: str | None = None, cache_dir: Path | str | None = None, repo_type: str = "model"
) -> Path | None:
    """The complete snapshot folder of ``repo_id`` in the cache, or None."""
    status = local_status(repo_id, revision, cache_dir, repo_type)
    return status.snapshot if status.complete else None
