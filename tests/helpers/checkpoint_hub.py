"""A multi-GB torch training checkpoint, written sparse, served by the loopback Hub with byte ranges.

``write_checkpoint`` lays out a file as ``torch.save`` does (a zip archive of stored entries under one
folder: ``data.pkl``, ``data/<key>`` per storage in the lexicographic key order of the torch versions the
published checkpoints were saved with, each local header padded so the data starts on a 64-byte boundary,
a data descriptor after the data, zip64 records past 4 GB), and skips over the dummy Stage B storages'
bytes so they cost no disk. The pickle is made by Python's pickler with torch's own globals and persistent
ids, so ``torch.load(weights_only=True)`` reads a small one (tests check that it does).

``serve_file`` adds such a file to a ``tests.helpers.hub_server.HubServer``: its resolve endpoint redirects
to a "CDN" route that answers ``Range: bytes=a-b`` from the file on disk, records ``(start, end, bytes sent)``
of each GET in ``hub.ranges``, and honours ``hub.faults.no_range``, ``drop_after`` and ``stall`` (once).
"""

from __future__ import annotations

import collections
import hashlib
import io
import pickle
import re
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.helpers.hub_server import HubServer, _Handler

ALIGN = 64
_ZEROS = 16 * 2**20


@dataclass
class Storage:
    """One storage: its torch storage type name, element count and bytes (None: zeros, never written)."""

    kind: str
    numel: int
    data: bytes | None = None
    itemsize: int = 4


@dataclass
class Stub:
    """A tensor in the pickle: pickled as torch pickles one, by ``_rebuild_tensor_v2``."""

    storage_key: str
    storage: Storage
    shape: tuple[int, ...]
    stride: tuple[int, ...]
    offset: int = 0


class _Pickler(pickle.Pickler):
    def persistent_id(self, obj: Any) -> Any:
        if isinstance(obj, tuple) and len(obj) == 2 and isinstance(obj[1], Storage):
            import torch

            key, s = obj
            return ("storage", getattr(torch, s.kind), key, "cpu", s.numel)
        return None

    def reducer_override(self, obj: Any) -> Any:
        if isinstance(obj, Stub):
            import torch

            args = ((obj.storage_key, obj.storage), obj.offset, obj.shape, obj.stride, False)
            return torch._utils._rebuild_tensor_v2, (*args, collections.OrderedDict())
        return NotImplemented


def pickle_checkpoint(tree: Any) -> bytes:
    buf = io.BytesIO()
    _Pickler(buf, protocol=2).dump(tree)
    return buf.getvalue()


def _crc_zeros(n: int, cache: dict[int, int] = {}) -> int:  # noqa: B006 - a cache on purpose
    if n not in cache:
        crc, left, zeros = 0, n, bytes(min(n, _ZEROS))
        while left:
            crc = zlib.crc32(zeros[: min(left, _ZEROS)], crc)
            left -= min(left, _ZEROS)
        cache[n] = crc
    return cache[n]


def write_checkpoint(path: Path, records: list[tuple[str, bytes | int]], archive: str = "archive") -> int:
    """Write ``records`` (name under ``archive/`` -> bytes, or a byte count of zeros left sparse) as torch
    lays them out; return the file's size."""
    central: list[tuple[bytes, int, int, int]] = []
    with path.open("wb") as f:
        for name, body in records:
            full = f"{archive}/{name}".encode()
            offset = f.tell()
            pad = (-(offset + 30 + len(full) + 4)) % ALIGN
            extra = b"FB" + struct.pack("<H", pad) + b"Z" * pad
            f.write(
                struct.pack(
                    "<IHHHHHIIIHH", 0x04034B50, 45, 0x0808, 0, 0, 0x21, 0, 0, 0, len(full), len(extra)
                )
            )
            f.write(full + extra)
            if isinstance(body, int):
                size, crc = body, _crc_zeros(body)
                f.seek(size, 1)
            else:
                size, crc = len(body), zlib.crc32(body)
                f.write(body)
            big = size >= 0xFFFFFFFF or offset >= 0xFFFFFFFF
            f.write(struct.pack("<IIQQ" if big else "<IIII", 0x08074B50, crc, size, size))
            central.append((full, offset, size, crc))
        cd_offset = f.tell()
        for full, offset, size, crc in central:
            z64 = b""
            fields = [size, size, offset]
            if size >= 0xFFFFFFFF:
                z64 += struct.pack("<QQ", size, size)
                fields[:2] = [0xFFFFFFFF, 0xFFFFFFFF]
            if offset >= 0xFFFFFFFF:
                z64 += struct.pack("<Q", offset)
                fields[2] = 0xFFFFFFFF
            extra = struct.pack("<HH", 1, len(z64)) + z64 if z64 else b""
            f.write(
                struct.pack(
                    "<IHHHHHHIIIHHHHHII",
                    0x02014B50,
                    45,
                    45,
                    0x0808,
                    0,
                    0,
                    0x21,
                    crc,
                    fields[1],
                    fields[0],
                    len(full),
                    len(extra),
                    0,
                    0,
                    0,
                    0,
                    fields[2],
                )
            )
            f.write(full + extra)
        cd_size = f.tell() - cd_offset
        n = len(central)
        if cd_offset + cd_size >= 0xFFFFFFFF:
            z64_at = f.tell()
            f.write(struct.pack("<IQHHIIQQQQ", 0x06064B50, 44, 45, 45, 0, 0, n, n, cd_size, cd_offset))
            f.write(struct.pack("<IIQI", 0x07064B50, 0, z64_at, 1))
            f.write(struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 0xFFFF, 0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0))
        else:
            f.write(struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, n, n, cd_size, cd_offset, 0))
        return f.tell()


def checkpoint_records(tree: Any, storages: dict[str, Storage]) -> list[tuple[str, bytes | int]]:
    """The records of a checkpoint holding ``tree``: pickle, version, byte order, storages by sorted key."""
    records: list[tuple[str, bytes | int]] = [("data.pkl", pickle_checkpoint(tree)), ("byteorder", b"little")]
    for key in sorted(storages):  # as strings, as torch before 2.1 wrote them: "1", "10", "100", "11"...
        s = storages[key]
        records.append((f"data/{key}", s.data if s.data is not None else s.numel * s.itemsize))
    records.append(("version", b"3\n"))
    return records


# -- serving --------------------------------------------------------------------------------------
class _RangeHandler(_Handler):
    def _route(self, head: bool) -> None:
        hub: Any = self.hub
        path = self.path.split("?")[0]
        for (repo_id, name), (file, sha) in getattr(hub, "files_on_disk", {}).items():
            if path in (f"/{repo_id}/resolve/main/{name}", f"/{repo_id}/resolve/{hub.disk_commit}/{name}"):
                size = file.stat().st_size
                headers = {
                    "X-Repo-Commit": hub.disk_commit,
                    "ETag": f'"{sha[:40]}"',
                    "X-Linked-Etag": f'"{sha}"',
                    "X-Linked-Size": str(size),
                    "Location": f"{hub.cdn}-file/{sha}",
                }
                return self._reply(302, headers)
            if path == f"/cdn-file/{sha}":
                return self._ranges(file, name, head)
        return super()._route(head)

    def _ranges(self, file: Path, name: str, head: bool) -> None:
        hub: Any = self.hub
        size = file.stat().st_size
        start, end = 0, size
        m = re.fullmatch(r"bytes=(\d+)-(\d*)", self.headers.get("Range", ""))
        ranged = bool(m) and not hub.faults.no_range
        if m and ranged:
            start, end = int(m.group(1)), (int(m.group(2)) + 1 if m.group(2) else size)
            if start >= size or end > size or end <= start:
                return self._reply(416, {"Content-Range": f"bytes */{size}"})
        record = [start, end, 0]
        if not head:  # recorded before the answer goes out: a client may act on its headers alone
            with hub.lock:
                hub.ranges.append(record)
        self.send_response(206 if ranged else 200)
        if ranged:
            self.send_header("Content-Range", f"bytes {start}-{end - 1}/{size}")
        self.send_header("Content-Length", str(end - start))
        self.send_header("Accept-Ranges", "bytes")
        self.end_headers()
        if head:
            return
        limit = end
        with hub.lock:  # each fault once, in the request whose range holds its offset
            if start < hub.faults.drop_after.get(name, -1) < end:
                limit = hub.faults.drop_after.pop(name)
            stall = hub.faults.stall.pop(name) if start < hub.faults.stall.get(name, -1) < end else None
            if stall is not None:
                limit = stall
        with file.open("rb") as f:
            f.seek(start)
            pos = start
            try:
                while pos < limit:
                    piece = f.read(min(65536, limit - pos))
                    with hub.lock:  # counted first: the client may have it before this thread runs on
                        record[2] += len(piece)
                    self.wfile.write(piece)
                    pos += len(piece)
            except (BrokenPipeError, ConnectionResetError):
                pass
        if stall is not None:
            hub.released.wait(30)
        if limit < end:
            self.close_connection = True


def serve_file(hub: HubServer, repo_id: str, name: str, file: Path) -> str:
    """Serve ``file`` as ``repo_id/name`` (an LFS file behind a CDN redirect); return the sha256 it is
    named by (a hash of its size and first and last bytes: hashing GBs of zeros would only cost time)."""
    hub.httpd.RequestHandlerClass = _RangeHandler
    if not hasattr(hub, "files_on_disk"):
        hub.files_on_disk = {}  # type: ignore[attr-defined]
        hub.ranges = []  # type: ignore[attr-defined]
        hub.disk_commit = hashlib.sha1(repo_id.encode()).hexdigest()  # type: ignore[attr-defined]
    with file.open("rb") as f:
        head = f.read(4096)
        f.seek(max(0, file.stat().st_size - 65536))
        tail = f.read()
    sha = hashlib.sha256(str(file.stat().st_size).encode() + head + tail).hexdigest()
    hub.files_on_disk[(repo_id, name)] = (file, sha)  # type: ignore[attr-defined]
    return sha


def sent_bytes(hub: HubServer) -> int:
    with hub.lock:
        return sum(r[2] for r in hub.ranges)  # type: ignore[attr-defined]
