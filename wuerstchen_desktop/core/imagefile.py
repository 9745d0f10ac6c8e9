"""Writing images safely: atomic (temporary file, fsync, rename) and never over an existing file."""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
import time
from pathlib import Path

from PIL import Image

from wuerstchen_desktop.core.errors import WuerstchenError

FORMATS = {"png": ("PNG", ".png"), "jpeg": ("JPEG", ".jpg"), "webp": ("WEBP", ".webp")}


def slug(text: str, limit: int = 40) -> str:
    """A short, file-name-safe summary of a prompt."""
    words = re.sub(r"[^\w\s-]", "", text, flags=re.UNICODE).split()
    out = "-".join(words)[:limit].strip("-_").lower()
    return out or "untitled"


def default_stem(seed: int, prompt: str, when: float | None = None) -> str:
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(when))
    return f"{stamp}-{seed}-{slug(prompt)}"


def _link_no_replace(src: Path, dst: Path) -> bool:
    """Give ``src`` the name ``dst`` unless ``dst`` exists; True on success."""
    try:
        os.link(src, dst)  # atomic, and fails if dst exists
    except FileExistsError:
        return False
    except OSError:
        # File systems without hard links: rename (Windows refuses to replace; elsewhere check first).
        if dst.exists():
            return False
        try:
            os.rename(src, dst)
        except FileExistsError:
            return False
        return True
    os.unlink(src)
    return True


def save_image(image: Image.Image, folder: Path, stem: str, fmt: str = "png", **save_args: object) -> Path:
    """Write ``image`` as ``folder/stem.ext`` (or ``stem-2.ext``, ... if taken) and return the path.

    The file appears under its final name only once it is complete on disk.
    """
    if fmt not in FORMATS:
        raise WuerstchenError(f"Unknown image format {fmt!r}.", f"Choose one of {', '.join(FORMATS)}.")
    pil_format, ext = FORMATS[fmt]
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=".tmp-", suffix=ext, dir=folder)
        tmp = Path(tmp_name)
        try:
            with os.fdopen(fd, "wb") as f:
                image.save(f, format=pil_format, **save_args)
                f.flush()
                os.fsync(f.fileno())
            for n in range(1, 10_000):
                dst = folder / (f"{stem}{ext}" if n == 1 else f"{stem}-{n}{ext}")
                if _link_no_replace(tmp, dst):
                    _fsync_dir(folder)
                    return dst
            raise WuerstchenError(
                f"Too many files named {stem} in {folder}.", "Choose another output folder."
            )
        finally:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
    except OSError as exc:
        raise WuerstchenError(
            f"Could not save the image in {folder}: {exc.strerror or exc}.",
            "Free some disk space or choose another output folder; earlier images are untouched.",
        ) from exc


def _fsync_dir(folder: Path) -> None:
    if os.name == "nt":
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
