"""The history's trash: ``.trash/<token>/`` in the output folder holds a deleted image and ``entry.json``,
the record of where it came from. The record is a file anyone can edit, so restoring trusts it only as far
as it stays inside the output folder: the image must come from its own trash folder and go back to a
visible folder under the output folder, symlinks resolved."""

from __future__ import annotations

import json
import os
import re
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

from wuerstchen_desktop.core.atomicfile import replace_atomic
from wuerstchen_desktop.core.errors import HistoryError

TRASH = ".trash"
ENTRY = "entry.json"
TOKEN = re.compile(r"^\d+-[0-9a-f]{8}$")


@dataclass(frozen=True)
class TrashEntry:
    token: str
    relpath: str
    deleted: float
    favourite: bool


def new_entry(relpath: str, favourite: bool) -> TrashEntry:
    return TrashEntry(f"{time.time_ns()}-{secrets.token_hex(4)}", relpath, time.time(), favourite)


def write_entry(folder: Path, entry: TrashEntry) -> None:
    """The record undo needs, on disk (fsync) before the image moves into the trash beside it."""
    replace_atomic(json.dumps(entry.__dict__).encode("utf-8"), folder / ENTRY)


def list_entries(output: Path) -> list[TrashEntry]:
    """What can be restored, newest first; folders that are not trash entries are left alone."""
    entries = []
    for folder in (output / TRASH).glob("*"):
        if not TOKEN.match(folder.name):
            continue
        try:
            data = json.loads((folder / ENTRY).read_text("utf-8"))
            entry = TrashEntry(
                folder.name, str(data["relpath"]), float(data["deleted"]), bool(data["favourite"])
            )
            if (folder / Path(entry.relpath).name).is_file():
                entries.append(entry)
        except (OSError, ValueError, TypeError, KeyError):
            continue
    return sorted(entries, key=lambda e: e.deleted, reverse=True)


def _inside(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


def _refused(output: Path, entry: TrashEntry) -> HistoryError:
    record = Path(TRASH) / entry.token / ENTRY
    return HistoryError(
        f"The trash record {record.as_posix()} points outside the output folder {output}, so nothing was "
        "restored.",
        "Move the image out of the trash by hand if you want it back.",
    )


def restore_source(output: Path, entry: TrashEntry) -> Path:
    """The trashed file of ``entry``, refused unless it really lies in its own folder of ``.trash``."""
    rel = Path(entry.relpath)
    source = output / TRASH / entry.token / rel.name
    home = Path(os.path.realpath(output)) / TRASH / entry.token
    if not TOKEN.match(entry.token) or not rel.name or Path(os.path.realpath(source)).parent != home:
        raise _refused(output, entry)
    return source


def restore_folder(output: Path, entry: TrashEntry) -> Path:
    """The folder ``entry`` goes back to, refused unless it is a visible folder inside ``output``; call
    again after creating it, in case a symlink appeared meanwhile."""
    rel = Path(entry.relpath)
    root = Path(os.path.realpath(output))
    target = Path(os.path.realpath(output / rel.parent))
    hidden = any(part.startswith(".") for part in rel.parts)  # the trash itself, or a folder never shown
    if (
        rel.anchor
        or ".." in rel.parts
        or hidden
        or not _inside(target, root)
        or _inside(target, root / TRASH)
    ):
        raise _refused(output, entry)
    return output / rel.parent
