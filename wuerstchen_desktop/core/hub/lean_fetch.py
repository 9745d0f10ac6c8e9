"""One state dict out of a multi-GB torch training checkpoint on the Hub, fetched by byte ranges alone.

The image encoder's weights (EfficientNetV2-S and its mapper) are published only inside Stage B's training
checkpoint, beside the whole Stage B training state (``EFFNET_*``). ``fetch_state_dict`` reads the
archive's end records and central directory (zip_ranges.py), its pickle without running it
(checkpoint_pickle.py), then only the storage entries that state dict's tensors use, neighbouring entries
in one request when the bytes between them are few. Every range is kept on disk until the caller is done
(range_fetch.py), so a cancelled or killed fetch continues where it stopped. torch is never imported: the
caller turns the storages into tensors (core/engine/encoder_weights.py).
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from wuerstchen_desktop.core.errors import NotEnoughSpace
from wuerstchen_desktop.core.hub import catalogue, checkpoint_pickle, zip_ranges
from wuerstchen_desktop.core.hub.checkpoint_pickle import TensorRef
from wuerstchen_desktop.core.hub.range_fetch import RemoteRanges
from wuerstchen_desktop.core.hub.units import human
from wuerstchen_desktop.core.hub.zip_ranges import Entry, refuse

EFFNET_REPO = catalogue.ENCODER_REPO
EFFNET_FILE = catalogue.ENCODER_FILE
EFFNET_KEY = "effnet_state_dict"

MAX_PICKLE = 256 * 2**20  # Stage B's whole training state pickles to a few MB
WASTE = 0.25  # bytes fetched between wanted entries, at most this share of the wanted bytes
MAX_SPAN = 4 * 2**20  # one request's length at most, when entries are joined


@dataclass
class StateDict:
    """The named tensors of one state dict and the bytes of the storages they use."""

    tensors: dict[str, TensorRef]
    storages: dict[str, bytes]  # storage key -> its bytes, little-endian
    source: str  # repo_id/filename@commit
    identity: str  # the checkpoint's sha256 (or a hash of commit and path when the server names none)
    fetched: int  # bytes that came over the network in this run
    work: Path  # the ranges kept on disk: remove with ``discard`` once the tensors are safe


def fetch_state_dict(
    key: str = EFFNET_KEY,
    *,
    repo_id: str = EFFNET_REPO,
    filename: str = EFFNET_FILE,
    work_root: Path,
    revision: str = "main",
    endpoint: str | None = None,
    token: str | None = None,
    cancelled: Callable[[], bool] = lambda: False,
    on_bytes: Callable[[int], None] | None = None,
    **http: Any,
) -> StateDict:
    """The tensors under ``key`` of the checkpoint ``repo_id/filename``, fetched by ranges into
    ``work_root``. Raises DownloadError (NoRanges for a server that sends only whole files; ArchiveRefused
    for a file that is not a checkpoint it can read safely; NotEnoughSpace) or Cancelled."""
    src = RemoteRanges(
        repo_id,
        filename,
        work_root,
        revision=revision,
        endpoint=endpoint,
        token=token,
        cancelled=cancelled,
        on_bytes=on_bytes,
        **http,
    )
    src.open()
    what = src.what
    for old in src.work_root.glob("*"):  # ranges of an earlier version of the file: of no use now
        if old.is_dir() and old != src.work:
            discard(old)
    entries = zip_ranges.read_directory(src.read, src.size, what)
    pickles = [e for e in entries.values() if e.name.endswith("/data.pkl") and e.name.count("/") == 1]
    if len(pickles) != 1:
        raise refuse(what, "it has no pickle where a torch checkpoint has one")
    pkl = pickles[0]
    prefix = pkl.name[: -len("data.pkl")]
    if pkl.size > MAX_PICKLE:
        raise refuse(what, f"its pickle is {human(pkl.size)}, far more than a checkpoint's")
    tensors = checkpoint_pickle.tensor_refs(_data(src, pkl, what), key, what)
    wanted: dict[str, Entry] = {}
    for ref in tensors.values():
        entry = entries.get(f"{prefix}data/{ref.storage.key}")
        if entry is None:
            raise refuse(what, f"the storage {ref.storage.key!r} is missing")
        if entry.size != ref.storage.nbytes:
            raise refuse(
                what, f"the storage {ref.storage.key!r} has {entry.size} bytes, not {ref.storage.nbytes}"
            )
        wanted[ref.storage.key] = entry
    order = entries.get(f"{prefix}byteorder")
    spans = plan_spans(list(wanted.values()) + ([order] if order else []))
    check_room(src.work, sum(end - start for start, end, _ in spans))
    storages: dict[str, bytes] = {}
    byteorder = b"little"
    for start, end, members in spans:
        block = src.read(start, end - start)
        for entry in members:
            try:
                data = zip_ranges.entry_data(block[entry.offset - start : entry.end - start], entry, what)
            except zip_ranges.ArchiveRefused:
                (src.work / f"{start}-{end}").unlink(missing_ok=True)  # damaged: fetched anew next time
                raise
            if entry is order:
                byteorder = data
            else:
                storages[entry.name[len(prefix) + len("data/") :]] = data
    if byteorder != b"little":
        raise refuse(what, f"its tensors are stored {byteorder.decode(errors='replace')!r}-endian")
    return StateDict(tensors, storages, f"{what}@{src.commit or '?'}", src.identity, src.fetched, src.work)


def _data(src: RemoteRanges, entry: Entry, what: str) -> bytes:
    try:
        return zip_ranges.entry_data(src.read(entry.offset, entry.span), entry, what)
    except zip_ranges.ArchiveRefused:
        (src.work / f"{entry.offset}-{entry.end}").unlink(missing_ok=True)
        raise


def plan_spans(wanted: list[Entry]) -> list[tuple[int, int, list[Entry]]]:
    """The requests that fetch ``wanted``: ``(start, end, entries)``. Neighbours are joined when the bytes
    between them are few, the smallest gaps first, until the bytes not wanted reach ``WASTE`` of those
    wanted; no joined request passes ``MAX_SPAN``."""
    ordered = sorted(wanted, key=lambda e: e.offset)
    if not ordered:
        return []
    budget = WASTE * sum(e.span for e in ordered)
    gaps = sorted(range(len(ordered) - 1), key=lambda i: ordered[i + 1].offset - ordered[i].end)
    join = [False] * max(len(ordered) - 1, 0)
    for i in gaps:
        gap = ordered[i + 1].offset - ordered[i].end
        if gap > budget:
            break
        budget -= gap
        join[i] = True
    spans: list[tuple[int, int, list[Entry]]] = []
    members = [ordered[0]]
    for i, entry in enumerate(ordered[1:]):
        if join[i] and entry.end - members[0].offset <= MAX_SPAN:
            members.append(entry)
            continue
        spans.append((members[0].offset, members[-1].end, members))
        members = [entry]
    spans.append((members[0].offset, members[-1].end, members))
    return spans


def check_room(folder: Path, size: int) -> None:
    probe = folder
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    free = shutil.disk_usage(probe).free
    if free < size:
        raise NotEnoughSpace(
            f"Not enough disk space for the image encoder: it needs {human(size)} in {folder}, which has "
            f"{human(free)} free.",
            "Free some space and try again.",
        )


def discard(work: Path) -> None:
    """Remove the ranges an earlier fetch kept, once what they held is saved elsewhere."""
    shutil.rmtree(work, ignore_errors=True)
