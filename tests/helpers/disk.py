"""A disk that fills up part-way through a job; a folder nobody can write into."""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest


def full_disk_after(monkeypatch: pytest.MonkeyPatch, saved: int) -> None:
    """The disk fills up after ``saved`` files: later writes fail as a full disk does (ENOSPC)."""
    from wuerstchen_desktop.core import atomicfile
    from wuerstchen_desktop.core.imagefile import write as image_write
    from wuerstchen_desktop.core.jobs import runner

    count = [0]
    real = image_write.write_image

    def write(image, record, folder, *args, **kwargs):
        count[0] += 1
        if count[0] > saved:
            raise atomicfile.save_error(OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)), Path(folder))
        return real(image, record, folder, *args, **kwargs)

    monkeypatch.setattr(runner, "write_image", write)


@contextlib.contextmanager
def read_only_folder(folder: Path) -> Iterator[Path]:
    """``folder``, made and read-only for this user; for root (who writes through any mode) immutable
    with chattr. Skips where neither is possible (root without chattr)."""
    folder.mkdir(parents=True, exist_ok=True)
    folder.chmod(stat.S_IRUSR | stat.S_IXUSR)
    immutable = False
    if os.name != "nt" and os.geteuid() == 0:
        immutable = shutil.which("chattr") is not None and (
            subprocess.run(["chattr", "+i", str(folder)], capture_output=True).returncode == 0
        )
        if not immutable:
            folder.chmod(stat.S_IRWXU)
            pytest.skip("running as root without chattr: no folder here is read-only")
    try:
        yield folder
    finally:
        if immutable:
            subprocess.run(["chattr", "-i", str(folder)], check=True)
        folder.chmod(stat.S_IRWXU)
