"""A disk that fills up part-way through a job."""

from __future__ import annotations

import errno
import os
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
