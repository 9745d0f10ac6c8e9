"""Checking the output folder before a job, so a folder that cannot take images is refused before minutes
of work, not after them."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

from wuerstchen_desktop.core.errors import WuerstchenError


class OutputFolderError(WuerstchenError):
    """The output folder does not exist and cannot be made, is not a folder, or cannot be written."""


HINT = "Choose another output folder, or make this one writable."


def check_output_dir(path: Path) -> None:
    """Make ``path`` if it is missing and prove that a file can be created in it (and removed again).

    Raises ``OutputFolderError`` with one sentence otherwise. Permissions alone cannot tell (ACLs,
    read-only disks, the administrator), so a hidden empty file is really created and deleted.
    """
    path = Path(path).expanduser()
    if path.exists() and not path.is_dir():
        raise OutputFolderError(f"The output folder {path} is a file, not a folder.", HINT)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputFolderError(
            f"The output folder {path} cannot be created: {exc.strerror or exc}.", HINT
        ) from exc
    try:
        fd, probe = tempfile.mkstemp(prefix=".tmp-", suffix=".probe", dir=path)
    except OSError as exc:
        raise OutputFolderError(
            f"Images cannot be saved in the output folder {path}: {exc.strerror or exc}.", HINT
        ) from exc
    os.close(fd)
    with contextlib.suppress(OSError):
        os.unlink(probe)
