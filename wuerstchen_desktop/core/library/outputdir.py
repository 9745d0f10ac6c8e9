"""Checking the output folder before a job, so a folder that cannot take images is refused before minutes
of work, not after them."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

from wuerstchen_desktop.core.errors import OutputFolderError

HINT = "Choose another output folder, or make this one writable."


def check_output_dir(path: Path, *, create: bool = True) -> None:
    """Prove that images can be saved in ``path``: raise ``OutputFolderError`` with one sentence if not.

    With ``create`` the folder is made when missing and the test file goes into it; without it nothing is
    made, and the test file goes into the nearest folder that exists. Permissions alone cannot tell (ACLs,
    read-only disks, the administrator), so a hidden empty file is really created and deleted.
    """
    path = Path(path).expanduser()
    if path.exists() and not path.is_dir():
        raise OutputFolderError(f"The output folder {path} is a file, not a folder.", HINT)
    existing = path
    while not existing.exists() and existing != existing.parent:
        if existing.is_symlink():  # a link to a disk or share that is not connected
            raise OutputFolderError(
                f"The output folder {path} cannot be created: {existing} leads to "
                f"{os.readlink(existing)}, which is not there.",
                "Connect that disk, or choose another output folder.",
            )
        existing = existing.parent
    if not existing.exists():  # not even the drive (Windows: a drive letter that is not connected)
        raise OutputFolderError(
            f"The output folder {path} cannot be created: the drive {existing} is not connected.",
            "Connect it, or choose another output folder.",
        )
    if not existing.is_dir():
        raise OutputFolderError(f"The output folder {path} cannot be created: {existing} is a file.", HINT)
    if create:
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OutputFolderError(
                f"The output folder {path} cannot be created: {exc.strerror or exc}.", HINT
            ) from exc
        existing = path
    try:
        fd, probe = tempfile.mkstemp(prefix=".tmp-", suffix=".probe", dir=existing)
    except OSError as exc:
        raise OutputFolderError(
            f"Images cannot be saved in the output folder {path}: {exc.strerror or exc}.", HINT
        ) from exc
    os.close(fd)
    with contextlib.suppress(OSError):
        os.unlink(probe)
