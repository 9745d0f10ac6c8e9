"""The table of contents of a remote zip archive, and its entries, read a byte range at a time.

A ``torch.save`` checkpoint is a zip archive of stored (uncompressed) entries: ``<archive>/data.pkl``, one
``<archive>/data/<key>`` per storage, ``version`` and a few small records, each local header padded so its
data starts on a 64-byte boundary, the sizes in a data descriptor after the data, and zip64 records once the
file passes 4 GB. So any entry can be fetched alone once the central directory is known.

Everything the archive says is checked against the file's size before it is used: an offset or size past
the end, entries that overlap, a compressed or encrypted entry, a name twice. Nothing here becomes a path.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass

from wuerstchen_desktop.core.errors import ArchiveRefused

TAIL = 4096  # bytes read from the end: the end records, and any comment torch could write (none)
MAX_DIRECTORY = 64 * 2**20  # a checkpoint with a million storages still has a smaller central directory
REFUSED_HINT = (
    "Check HF_ENDPOINT, or try again later: the file may be changing on the server. Nothing of it was kept."
)

_EOCD = b"PK\x05\x06"
_LOCATOR = b"PK\x06\x07"
_EOCD64 = b"PK\x06\x06"
_CENTRAL = b"PK\x01\x02"
_LOCAL = b"PK\x03\x04"
_FULL16, _FULL32 = 0xFFFF, 0xFFFFFFFF

Read = Callable[[int, int], bytes]  # (offset, length) -> exactly that many bytes of the remote file


@dataclass(frozen=True)
class Entry:
    """One stored entry: its local header starts at ``offset``; ``end`` is where the next entry (or the
    central directory) starts, so ``[offset, end)`` holds its header, its data and its data descriptor."""

    name: str
    offset: int
    end: int
    size: int
    crc: int

    @property
    def span(self) -> int:
        return self.end - self.offset


def refuse(what: str, detail: str) -> ArchiveRefused:
    return ArchiveRefused(
        f"{what} on the server is not a checkpoint the app can read safely: {detail}.", REFUSED_HINT
    )


def read_directory(read: Read, size: int, what: str) -> dict[str, Entry]:
    """Every entry of the archive of ``size`` bytes, by name; ArchiveRefused when anything does not add up."""
    if size < 22:
        raise refuse(what, f"it is only {size} bytes long")
    tail_start = max(0, size - TAIL)
    tail = read(tail_start, size - tail_start)
    at = tail.rfind(_EOCD)
    while at >= 0 and (
        at + 22 > len(tail) or at + 22 + struct.unpack_from("<H", tail, at + 20)[0] != len(tail)
    ):
        at = tail.rfind(_EOCD, 0, at)
    if at < 0:
        raise refuse(what, "it has no zip end record")
    eocd = tail_start + at
    _, disk, cd_disk, n_here, count, cd_size, cd_offset, _ = struct.unpack_from("<IHHHHIIH", tail, at)
    directory_end = eocd
    if at >= 20 and tail[at - 20 : at - 16] == _LOCATOR:
        _, _, record, _ = struct.unpack_from("<IIQI", tail, at - 20)
        if not 0 <= record <= eocd - 20 - 56:
            raise refuse(what, "its zip64 end record lies outside the file")
        z64 = _slice(read, tail, tail_start, record, 56)
        if z64[:4] != _EOCD64:
            raise refuse(what, "its zip64 end record is missing")
        _, _, _, _, disk, cd_disk, n_here, count, cd_size, cd_offset = struct.unpack("<IQHHIIQQQQ", z64)
        directory_end = record
    elif _FULL16 in (n_here, count) or _FULL32 in (cd_size, cd_offset):
        raise refuse(what, "it needs zip64 records it does not have")
    if disk or cd_disk or n_here != count:
        raise refuse(what, "it is split over several disks")
    if cd_size > MAX_DIRECTORY or cd_offset + cd_size > directory_end or count > cd_size // 46:
        raise refuse(what, "its central directory does not fit the file")
    directory = _slice(read, tail, tail_start, cd_offset, cd_size)
    return _entries(directory, count, cd_offset, what)


def _slice(read: Read, tail: bytes, tail_start: int, offset: int, length: int) -> bytes:
    """Bytes ``[offset, offset+length)``; what of them lies in the tail already read is not fetched again."""
    if offset >= tail_start:
        return tail[offset - tail_start : offset - tail_start + length]
    if offset + length <= tail_start:
        return read(offset, length)
    return read(offset, tail_start - offset) + tail[: offset + length - tail_start]


def _entries(directory: bytes, count: int, cd_offset: int, what: str) -> dict[str, Entry]:
    raw: list[tuple[str, int, int, int]] = []
    pos = 0
    for _ in range(count):
        if pos + 46 > len(directory) or directory[pos : pos + 4] != _CENTRAL:
            raise refuse(what, "its central directory is damaged")
        (flags, method, crc, csize, usize, n, e, c, disk, offset) = struct.unpack_from(
            "<8xHH4xIIIHHHH6xI", directory, pos
        )
        name_bytes = directory[pos + 46 : pos + 46 + n]
        extra = directory[pos + 46 + n : pos + 46 + n + e]
        pos += 46 + n + e + c
        if pos > len(directory):
            raise refuse(what, "its central directory is damaged")
        try:
            name = name_bytes.decode("utf-8")
        except UnicodeDecodeError:
            raise refuse(what, "an entry's name is not text") from None
        usize, csize, offset, disk = _zip64(extra, usize, csize, offset, disk, what)
        if method != 0 or csize != usize:
            raise refuse(what, f"the entry {name!r} is compressed")
        if flags & 0x41:
            raise refuse(what, f"the entry {name!r} is encrypted")
        if disk:
            raise refuse(what, "it is split over several disks")
        raw.append((name, offset, usize, crc))
    if len({r[0] for r in raw}) != len(raw):
        raise refuse(what, "it names an entry twice")
    entries: dict[str, Entry] = {}
    ordered = sorted(raw, key=lambda r: r[1])
    for i, (name, offset, usize, crc) in enumerate(ordered):
        end = ordered[i + 1][1] if i + 1 < len(ordered) else cd_offset
        if offset + 30 + len(name.encode()) + usize > end:
            raise refuse(what, f"the entry {name!r} overlaps another entry or lies past the end")
        entries[name] = Entry(name, offset, end, usize, crc)
    return entries


def _zip64(
    extra: bytes, usize: int, csize: int, offset: int, disk: int, what: str
) -> tuple[int, int, int, int]:
    """The sizes and offset a zip64 extra field holds in place of the fields set to all ones."""
    pos = 0
    while pos + 4 <= len(extra):
        tag, length = struct.unpack_from("<HH", extra, pos)
        body = extra[pos + 4 : pos + 4 + length]
        pos += 4 + length
        if tag != 1:
            continue
        values, at = [], 0
        for value, width in ((usize, 8), (csize, 8), (offset, 8), (disk, 4)):
            if value == (_FULL32 if width == 8 else _FULL16):
                if at + width > len(body):
                    raise refuse(what, "a zip64 field is cut short")
                value = int.from_bytes(body[at : at + width], "little")
                at += width
            values.append(value)
        return values[0], values[1], values[2], values[3]
    if _FULL32 in (usize, csize, offset):
        raise refuse(what, "an entry needs a zip64 field it does not have")
    return usize, csize, offset, disk


def entry_data(region: bytes, entry: Entry, what: str) -> bytes:
    """The data of ``entry`` out of its bytes ``[entry.offset, entry.end)``; local header and CRC checked."""
    if len(region) != entry.span or region[:4] != _LOCAL:
        raise refuse(what, f"the entry {entry.name!r} has no local header where the directory says")
    flags, method, n, e = struct.unpack_from("<6xHH16xHH", region, 0)
    if method != 0 or flags & 0x41:
        raise refuse(what, f"the entry {entry.name!r} is compressed or encrypted")
    if region[30 : 30 + n] != entry.name.encode():
        raise refuse(what, f"the local header of {entry.name!r} names another entry")
    start = 30 + n + e
    if start + entry.size > len(region):
        raise refuse(what, f"the entry {entry.name!r} overlaps the next one")
    data = region[start : start + entry.size]
    if zlib.crc32(data) != entry.crc:
        raise ArchiveRefused(
            f"{what}: the entry {entry.name!r} arrived damaged (its checksum does not match).",
            "Try again: what arrived damaged is fetched again.",
        )
    return data
