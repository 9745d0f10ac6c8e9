"""Files that appear whole or not at all, and never replace another file.

A file is written to a hidden temporary name in its folder (``.tmp-`` + 16 hex digits + extension),
flushed to disk, then given its final name. The final name is claimed with ``link()`` where the file
system has hard links; where it has none (FAT, exFAT, some network mounts) it is claimed by creating an
empty file there exclusively, then the temporary file is renamed over that claim. A crash can thus leave
an empty file under a final name, never a partial one. Files are created with mode 0666 less the umask,
as any program's files are. ``clean_orphans`` removes temporary files a killed save left behind.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import re
import secrets
import stat
import time
from pathlib import Path

from wuerstchen_desktop.core.errors import SaveError

log = logging.getLogger(__name__)

SAVE_HINT = "Free some disk space or choose another output folder; earlier images are untouched."
TEMP_PREFIX = ".tmp-"
# Our own temporary image files only: 16 hex digits now, 8 of mkstemp's alphabet before.
_ORPHAN = re.compile(r"\.tmp-(?:[0-9a-f]{16}|[a-z0-9_]{8})\.(?:png|jpg|jpeg|webp)")
ORPHAN_AGE_S = 600.0  # a save in progress touches its temporary file far more often than this
_swept: set[str] = set()  # folders whose orphans this process has removed
_CREATE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0) | getattr(os, "O_CLOEXEC", 0)


def _create(path: Path) -> int:
    """Open a new file at ``path`` for writing, failing if anything is there; 0666 less the umask."""
    return os.open(path, _CREATE, 0o666)  # O_EXCL: a link there counts as taken, never followed


def write_temp(data: bytes, folder: Path, suffix: str) -> Path:
    """``data`` in a new hidden temporary file in ``folder`` (created if needed), on disk (fsync)."""
    folder.mkdir(parents=True, exist_ok=True)
    for _ in range(100):
        tmp = folder / f"{TEMP_PREFIX}{secrets.token_hex(8)}{suffix}"
        try:
            fd = _create(tmp)
            break
        except FileExistsError:
            continue
    else:
        raise FileExistsError(errno.EEXIST, "no free temporary name", str(folder))
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return tmp


def replace_atomic(data: bytes, dst: Path) -> None:
    """``dst`` holds ``data`` complete, or is left as it was: a temporary file, fsync, rename over it."""
    tmp = write_temp(data, dst.parent, dst.suffix)
    try:
        os.replace(tmp, dst)
        fsync_dir(dst.parent)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def link_no_replace(src: Path, dst: Path) -> bool:
    """Give ``src`` the name ``dst`` unless ``dst`` exists; True on success (``src`` is then gone)."""
    try:
        os.link(src, dst)  # atomic, and fails if dst exists
    except FileExistsError:
        return False
    except OSError:
        return _claim_and_replace(src, dst)
    os.unlink(src)
    return True


def _claim_and_replace(src: Path, dst: Path) -> bool:
    """Without hard links: claim ``dst`` with an empty file (exclusive create), then rename over it.

    Checking that ``dst`` is free and then renaming would let two writers both pass the check, and the
    second rename would replace the first writer's image.
    """
    try:
        os.close(_create(dst))
    except FileExistsError:
        return False
    try:
        os.replace(src, dst)
    except BaseException:
        with contextlib.suppress(OSError):
            if os.stat(dst).st_size == 0:  # still our claim: give the name back
                os.unlink(dst)
        raise
    return True


def move_no_replace(src: Path, folder: Path, stem: str, ext: str) -> Path:
    """Move ``src`` to ``folder/stem.ext``, or ``stem-2.ext``... if taken; never replaces a file."""
    for n in range(1, 10_000):
        dst = folder / (f"{stem}{ext}" if n == 1 else f"{stem}-{n}{ext}")
        if link_no_replace(src, dst):
            fsync_dir(folder)
            return dst
    raise SaveError(f"Too many files named {stem} in {folder}.", "Choose another output folder.")


def save_error(exc: OSError, folder: Path) -> SaveError:
    if exc.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)):
        return SaveError(f"The disk is full: the image could not be saved in {folder}.", SAVE_HINT)
    return SaveError(
        f"Could not save the image in {folder}: {exc.strerror or exc}.",
        "Check that the folder exists and that you may write there; earlier images are untouched.",
    )


def write_bytes_atomic(data: bytes, folder: Path, stem: str, ext: str) -> Path:
    """Write ``data`` as ``folder/stem+ext`` (``stem`` may hold ``/``), appearing only once complete."""
    target = Path(folder).joinpath(*stem.split("/"))
    parent, name = target.parent, target.name
    try:
        tmp = write_temp(data, parent, ext)
        try:
            return move_no_replace(tmp, parent, name, ext)
        finally:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
    except OSError as exc:
        raise save_error(exc, parent) from exc
    finally:
        _sweep_once(parent)


def _sweep_once(folder: Path) -> None:
    """The first save into a folder in this process also removes that folder's old orphans."""
    key = os.path.abspath(folder)
    if key not in _swept:
        _swept.add(key)
        clean_orphans(folder, recursive=False)


def fsync_dir(folder: Path) -> None:
    if os.name == "nt":
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def clean_orphans(folder: Path, older_than_s: float = ORPHAN_AGE_S, recursive: bool = True) -> int:
    """Delete the temporary image files killed saves left under ``folder`` and its subfolders.

    Only names of our own scheme, only regular files, only those untouched for ``older_than_s`` seconds
    (a save running now in another process keeps its file fresh). Hidden folders and links are not
    entered. Returns how many files were removed; never raises.
    """
    cutoff, removed = time.time() - older_than_s, 0
    for root, dirs, files in os.walk(folder):
        dirs[:] = [d for d in dirs if recursive and not d.startswith(".")]
        for name in files:
            if not _ORPHAN.fullmatch(name):
                continue
            path = os.path.join(root, name)
            try:
                st = os.lstat(path)
                if stat.S_ISREG(st.st_mode) and st.st_mtime < cutoff:
                    os.unlink(path)
                    removed += 1
            except FileNotFoundError:
                continue
            except OSError as exc:
                log.warning("could not remove the temporary file %s: %s", path, exc)
    return removed
