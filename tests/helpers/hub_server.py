"""A small Hub on 127.0.0.1 that answers huggingface_hub as huggingface.co does, with faults on demand.

Repositories are folders on disk: models, and Spaces under the Hub's ``/api/spaces/`` and ``/spaces/``
routes. ``*.safetensors``, ``*.bin`` and ``*.pt`` files are served as LFS files: the resolve endpoint
answers with a redirect to a "CDN" on another host name (``localhost``), carrying ``X-Linked-Etag`` (the
sha256) and ``X-Linked-Size``; other files are served directly with their git blob id as ETag. Every
response names the commit in ``X-Repo-Commit``. Byte counts and ``Range`` starts are recorded per file so
tests can assert on exactly what was sent.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import posixpath
import re
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

LFS = (".safetensors", ".bin", ".pt")


def git_blob_id(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


@dataclass
class Repo:
    repo_id: str
    commit: str
    files: dict[str, bytes]
    repo_type: str = "model"  # or "space"

    def is_lfs(self, path: str) -> bool:
        return path.endswith(LFS)

    def sha256(self, path: str) -> str:
        return hashlib.sha256(self.files[path]).hexdigest()


@dataclass
class Faults:
    """What goes wrong, keyed by file path in the repository (or repo id for ``status``)."""

    drop_after: dict[str, int] = field(default_factory=dict)  # close the connection after N bytes, once
    corrupt_once: set[str] = field(default_factory=set)  # flip one byte in the next full body
    stall: dict[str, int] = field(default_factory=dict)  # send N bytes, then nothing, on every try
    delay: dict[str, float] = field(default_factory=dict)  # seconds between 8 KB chunks
    status: dict[str, int] = field(default_factory=dict)  # answer every request for it with this code
    no_range: bool = False  # ignore Range, as some proxies do
    etag: dict[str, str] = field(default_factory=dict)  # ETag (and X-Linked-Etag) sent verbatim
    weak_etags: bool = False  # nginx style: ETag W/"<size>-<mtime>" and no X-Linked-Etag
    listing_hashes: bool = True  # False: the listing gives neither blobId nor lfs
    first_byte_delay: dict[str, float] = field(default_factory=dict)  # seconds before a GET's answer
    head_delay: dict[str, float] = field(default_factory=dict)  # seconds before a HEAD's answer
    extra_bytes: dict[str, bytes] = field(default_factory=dict)  # appended to every body: longer than said
    signed_links: bool = False  # each resolve issues a CDN link good for one GET; reused, it answers 403
    cdn_status: int | None = None  # the CDN answers every request with this code
    retry_after: dict[str, list[str]] = field(default_factory=dict)  # 429 with each value, in turn


class HubServer:
    def __init__(self) -> None:
        self.repos: dict[str, Repo] = {}  # models
        self.spaces: dict[str, Repo] = {}
        self.faults = Faults()
        self.token: str | None = None
        # Per file path, one [range start, body bytes sent] per GET; a connection still sending after
        # reset_counts() updates only its own, detached entry.
        self.transfers: defaultdict[str, list[list[int]]] = defaultdict(list)
        self.log: list[tuple[str, str, str | None]] = []  # method, path, authorization
        self.stamps: list[tuple[float, str, str]] = []  # time.monotonic(), method, path
        self.links: dict[str, bool] = {}  # signed link -> still good
        self.released = threading.Event()
        self.lock = threading.Lock()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.httpd.daemon_threads = True
        self.httpd.hub = self  # type: ignore[attr-defined]
        self.port = self.httpd.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.cdn = f"http://localhost:{self.port}/cdn"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def add_repo(
        self, repo_id: str, folder: Path, extra: dict[str, bytes] | None = None, repo_type: str = "model"
    ) -> Repo:
        files = {
            p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
        }
        files.update(extra or {})
        kind = b"" if repo_type == "model" else repo_type.encode()
        commit = hashlib.sha1(kind + repo_id.encode() + b"".join(files.values())).hexdigest()
        repo = Repo(repo_id, commit, files, repo_type)
        (self.spaces if repo_type == "space" else self.repos)[repo_id] = repo
        return repo

    def add_space(self, repo_id: str, folder: Path) -> Repo:
        return self.add_repo(repo_id, folder, repo_type="space")

    @property
    def gets(self) -> dict[str, list[int]]:
        """The Range start of each GET, per file path."""
        with self.lock:
            return {name: [t[0] for t in ts] for name, ts in self.transfers.items() if ts}

    @property
    def sent(self) -> dict[str, int]:
        """Body bytes sent, per file path."""
        with self.lock:
            return {name: sum(t[1] for t in ts) for name, ts in self.transfers.items() if ts}

    def reset_counts(self) -> None:
        with self.lock:
            self.transfers.clear()
            self.log.clear()
            self.stamps.clear()

    def __enter__(self) -> HubServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.released.set()
        self.httpd.shutdown()
        self.httpd.server_close()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        pass

    @property
    def hub(self) -> HubServer:
        return self.server.hub  # type: ignore[attr-defined]

    def do_HEAD(self) -> None:
        self._route(head=True)

    def do_GET(self) -> None:
        self._route(head=False)

    def _reply(self, code: int, headers: dict[str, str] | None = None, body: bytes = b"") -> None:
        self.send_response(code)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _error(self, code: int, error_code: str = "") -> None:
        headers = {"Content-Type": "application/json"}
        if error_code:
            headers["X-Error-Code"] = error_code
        self._reply(code, headers, json.dumps({"error": f"{code} {error_code}"}).encode())

    def _route(self, head: bool) -> None:
        hub = self.hub
        url = urlparse(self.path)
        path = unquote(url.path)
        with hub.lock:
            hub.log.append((self.command, path, self.headers.get("authorization")))
            hub.stamps.append((time.monotonic(), self.command, path))
        if m := re.fullmatch(r"/cdn/(spaces/)?([^/]+/[^/]+)/([0-9a-f]{64})", path):
            if hub.faults.cdn_status is not None:
                return self._error(hub.faults.cdn_status)
            if hub.faults.signed_links:
                with hub.lock:
                    good = hub.links.get(url.query, False)
                    hub.links[url.query] = False
                if not good:
                    return self._error(403, "SignatureExpired")
            repo = (hub.spaces if m.group(1) else hub.repos)[m.group(2)]
            name = next(p for p in repo.files if repo.is_lfs(p) and repo.sha256(p) == m.group(3))
            return self._body(repo, name, head)
        if hub.token and self.headers.get("authorization") != f"Bearer {hub.token}":
            return self._error(401, "RepoNotFound")
        for kind, api, prefix in (("space", "spaces", "spaces/"), ("model", "models", "")):
            if m := re.fullmatch(rf"/api/{api}/([^/]+/[^/]+)(?:/revision/([^/]+))?", path):
                return self._info(m.group(1), m.group(2) or "main", kind)
            if m := re.fullmatch(rf"/api/{api}/([^/]+/[^/]+)/tree/([^/]+)", path):
                return self._tree(m.group(1), m.group(2), kind)
            if m := re.fullmatch(rf"/{prefix}([^/]+/[^/]+)/resolve/([^/]+)/(.+)", path):
                return self._resolve(m.group(1), m.group(2), m.group(3), head, kind)
        for repo in hub.repos.values():  # a listed name with ../ in it: the client's URL lost the dots
            for name in repo.files:
                if posixpath.normpath(f"/{repo.repo_id}/resolve/{repo.commit}/{name}") == path:
                    return self._resolve(repo.repo_id, repo.commit, name, head)
        self._error(404)

    def _repo(self, repo_id: str, revision: str, repo_type: str = "model") -> Repo | None:
        hub = self.hub
        if repo_id in hub.faults.status:
            self._error(hub.faults.status[repo_id])
            return None
        repo = (hub.spaces if repo_type == "space" else hub.repos).get(repo_id)
        if repo is None:
            self._error(404, "RepoNotFound")
        elif revision not in ("main", repo.commit):
            self._error(404, "RevisionNotFound")
            return None
        return repo

    def _entry(self, repo: Repo, path: str, tree: bool) -> dict[str, object]:
        data = repo.files[path]
        entry: dict[str, object] = {"size": len(data)}
        lfs = {"size": len(data), "pointerSize": 134}
        if tree:
            entry.update(type="file", path=path, oid=git_blob_id(data))
            lfs["oid"] = repo.sha256(path)  # type: ignore[assignment]
        else:
            entry.update(rfilename=path, blobId=git_blob_id(data))
            lfs["sha256"] = repo.sha256(path)  # type: ignore[assignment]
        if not self.hub.faults.listing_hashes:
            entry.pop("oid", None)
            entry.pop("blobId", None)
            return entry
        if repo.is_lfs(path):
            entry["lfs"] = lfs
        return entry

    def _info(self, repo_id: str, revision: str, repo_type: str = "model") -> None:
        if (repo := self._repo(repo_id, revision, repo_type)) is None:
            return
        info: dict[str, Any] = {
            "_id": repo.commit[:24],
            "id": repo_id,
            "sha": repo.commit,
            "private": False,
            "siblings": [self._entry(repo, p, tree=False) for p in repo.files],
        }
        if repo_type == "space":  # as huggingface.co describes a Space
            info.update(author=repo_id.split("/")[0], sdk="gradio", likes=0, disabled=False)
            info["runtime"] = {"stage": "SLEEPING", "hardware": {"current": None, "requested": "cpu-basic"}}
        else:
            info["modelId"] = repo_id
        self._reply(200, {"Content-Type": "application/json"}, json.dumps(info).encode())

    def _tree(self, repo_id: str, revision: str, repo_type: str = "model") -> None:
        if (repo := self._repo(repo_id, revision, repo_type)) is not None:
            entries = [self._entry(repo, p, tree=True) for p in repo.files]
            self._reply(200, {"Content-Type": "application/json"}, json.dumps(entries).encode())

    def _resolve(self, repo_id: str, revision: str, name: str, head: bool, repo_type: str = "model") -> None:
        if (repo := self._repo(repo_id, revision, repo_type)) is None:
            return
        if name in self.hub.faults.status:
            return self._error(self.hub.faults.status[name])
        if name not in repo.files:
            return self._error(404, "EntryNotFound")
        faults = self.hub.faults
        if head and name in faults.head_delay:
            self.hub.released.wait(faults.head_delay[name])
        with self.hub.lock:
            waits = faults.retry_after.get(name)
            wait = waits.pop(0) if waits else None
        if wait is not None:
            return self._reply(429, {"Retry-After": wait, "Content-Type": "text/plain"}, b"Too Many Requests")
        data = repo.files[name]
        etag = f'"{git_blob_id(data)}"'
        if faults.weak_etags:
            etag = f'W/"{len(data):x}-64a1b2c3"'
        etag = faults.etag.get(name, etag)
        if repo.is_lfs(name):
            sha = repo.sha256(name)
            location = f"{self.hub.cdn}/{'spaces/' if repo_type == 'space' else ''}{repo_id}/{sha}"
            if faults.signed_links:
                with self.hub.lock:
                    signature = f"sig={len(self.hub.links)}"
                    self.hub.links[signature] = True
                location += "?" + signature
            headers = {
                "X-Repo-Commit": repo.commit,
                "ETag": etag,
                "X-Linked-Etag": faults.etag.get(name, f'"{sha}"'),
                "X-Linked-Size": str(len(data)),
                "Location": location,
            }
            if faults.weak_etags:
                del headers["X-Linked-Etag"]
            return self._reply(302, headers)
        self._body(repo, name, head, {"X-Repo-Commit": repo.commit, "ETag": etag})

    def _body(self, repo: Repo, name: str, head: bool, extra: dict[str, str] | None = None) -> None:
        hub, faults = self.hub, self.hub.faults
        data = repo.files[name]
        start = 0
        m = re.fullmatch(r"bytes=(\d+)-", self.headers.get("Range", ""))
        if m and not faults.no_range:
            start = int(m.group(1))
        if start > len(data):
            return self._reply(416, {"Content-Range": f"bytes */{len(data)}"})
        body = data[start:] + faults.extra_bytes.get(name, b"")
        if not head and start == 0 and name in faults.corrupt_once:
            faults.corrupt_once.discard(name)
            body = bytes([body[0] ^ 0xFF]) + body[1:]
        if not head and name in faults.first_byte_delay:
            hub.released.wait(faults.first_byte_delay[name])
        self.send_response(206 if start else 200)
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        if start:
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Accept-Ranges", "bytes")
        self.end_headers()
        if head:
            return
        transfer = [start, 0]
        with hub.lock:
            hub.transfers[name].append(transfer)
        limit = len(body)
        if name in faults.drop_after:
            limit = min(limit, faults.drop_after.pop(name) - start)
        stall = faults.stall.get(name)
        if stall is not None:
            limit = min(limit, max(stall - start, 0))
        for i in range(0, limit, 8192):
            piece = body[i : min(i + 8192, limit)]
            self.wfile.write(piece)
            self.wfile.flush()
            with hub.lock:
                transfer[1] += len(piece)
            time.sleep(faults.delay.get(name, 0.0))
        if stall is not None:
            hub.released.wait(30)
        if limit < len(body):
            self.close_connection = True


TINY_REPOS = {
    "warp-ai/wuerstchen": "wuerstchen",
    "warp-ai/wuerstchen-prior": "wuerstchen-prior",
    "warp-ai/wuerstchen-prior-model-finetuned": "wuerstchen-prior-model-finetuned",
}
PICKLE_EXTRA = {"warp-ai/wuerstchen": {"decoder/diffusion_pytorch_model.bin": b"pickle" * 1000}}
# The official demo, a Space: the previewer (a real torch pickle of a tiny Previewer) and files the app skips.
TINY_SPACES = {"warp-ai/Wuerstchen": "wuerstchen-space"}


@contextlib.contextmanager
def tiny_hub(tiny_root: Path, cache: Path, monkeypatch: Any) -> Iterator[HubServer]:
    """A loopback Hub serving the tiny checkpoints (the decoder also with a pickle file that must never be
    fetched) and the demo Space with its previewer, with huggingface_hub pointed at it and at an empty
    cache."""
    from huggingface_hub import constants

    server = HubServer()
    for repo_id, folder in TINY_REPOS.items():
        server.add_repo(repo_id, tiny_root / folder, extra=PICKLE_EXTRA.get(repo_id))
    for repo_id, folder in TINY_SPACES.items():
        if (tiny_root / folder).is_dir():
            server.add_space(repo_id, tiny_root / folder)
    # huggingface_hub reads these once at import: the environment alone would not reach it now.
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(constants, "ENDPOINT", server.url)
    template = server.url + "/{repo_id}/resolve/{revision}/{filename}"
    monkeypatch.setattr(constants, "HUGGINGFACE_CO_URL_TEMPLATE", template)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.setenv("HF_HUB_DISABLE_IMPLICIT_TOKEN", "1")
    with server:
        yield server
