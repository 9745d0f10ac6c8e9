"""What a server says that could steer the disk or the clock, checked before it is used.

A mirror set as ``HF_ENDPOINT`` may be misconfigured or hostile. Its ETags name blobs in the cache, its file
listing names snapshot paths, its commit id names a folder, its redirects are fetched and its ``Retry-After``
is waited for: each is checked here. Nothing that fails a check ever becomes a path.
"""

from __future__ import annotations

import email.utils
import re
import time
from collections.abc import Mapping
from urllib.parse import urljoin, urlparse

COMMIT = re.compile(r"^[0-9a-f]{40}$")  # a git id: a commit, or a small file's blob
SHA256 = re.compile(r"^[0-9a-f]{64}$")  # an LFS file's oid

# Characters that let a name climb out of its folder, or end it early, on some system.
_UNSAFE = re.compile(r"[/\\\x00-\x1f\x7f]|\.\.")
_DRIVE = re.compile(r"^[A-Za-z]:")


def checksum(etag: str | None) -> str | None:
    """The hash an ETag names: the sha256 of an LFS file or the git sha1 of a small one, as the Hub sends.

    None when there is no ETag, or when it is a version tag that is no hash (nginx's ``W/"5f1-64a1b2c3"``,
    which huggingface_hub hands on as ``5f1-64a1b2c3``): such a file is checked against the file listing
    instead. ValueError for one that could name a path: no honest server sends that.
    """
    if not etag:
        return None
    if SHA256.match(etag) or COMMIT.match(etag):
        return etag
    if _UNSAFE.search(etag) or len(etag) > 256:
        raise ValueError(f"unsafe checksum {etag!r}")
    return None


def repo_path(path: object) -> str:
    """A path from a file listing, if it stays inside the repository's folder on every system."""
    if (
        not isinstance(path, str)
        or not path
        or path.startswith("/")
        or _DRIVE.match(path)
        or any(c in path for c in "\\\0")
        or any(ord(c) < 0x20 or c == "\x7f" for c in path)
        or any(part in ("", ".", "..") for part in path.split("/"))
    ):
        raise ValueError(repr(path))
    return path


def commit(value: object) -> str:
    """A commit id as the Hub gives it (40 lower-case hex digits): it names the snapshot folder."""
    if not isinstance(value, str) or not COMMIT.match(value):
        raise ValueError(repr(value))
    return value


def location(url: str, target: str | None) -> str:
    """Where a file is fetched from: a redirect's target made absolute, over HTTP(S) only."""
    absolute = urljoin(url, target or url)
    parsed = urlparse(absolute)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise ValueError(f"unsafe download link {target!r}")
    return absolute


def same_origin(a: str, b: str) -> bool:
    pa, pb = urlparse(a), urlparse(b)
    ports = {"http": 80, "https": 443}
    return (pa.scheme, pa.hostname, pa.port or ports.get(pa.scheme)) == (
        pb.scheme,
        pb.hostname,
        pb.port or ports.get(pb.scheme),
    )


def retry_after(headers: Mapping[str, str], now: float | None = None) -> float | None:
    """Seconds a ``Retry-After`` header asks to wait (a number, or an HTTP date); None if absent or unread."""
    value = next((v for k, v in headers.items() if k.lower() == "retry-after"), None)
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))
