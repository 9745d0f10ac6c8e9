"""What the app needs to know about how it was started: from source or from a PyInstaller bundle.

A bundle keeps its data files under ``sys._MEIPASS``; a windowed bundle (and ``pythonw``) has no console,
so ``sys.stdout`` and ``sys.stderr`` are ``None`` and every library that writes to them would crash.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

SOURCE_ROOT = Path(__file__).resolve().parent.parent


def is_frozen() -> bool:
    return bool(getattr(sys, "frozen", False))


def resource_root() -> Path:
    """The folder holding ``resources/``: inside the bundle when frozen, the source tree otherwise."""
    bundle = getattr(sys, "_MEIPASS", None)
    if is_frozen() and bundle:
        return Path(bundle)
    return SOURCE_ROOT


def resource_path(*parts: str) -> Path:
    """``resources/<parts>``; it may be missing when the package was installed without the source tree."""
    return resource_root().joinpath("resources", *parts)


def app_icon() -> Path:
    return resource_path("icons", "wuerstchen-desktop.png")


def ensure_std_streams() -> None:
    """Give a console-less process writable standard streams, so stray writes go nowhere instead of
    raising ``AttributeError`` deep inside torch, transformers or tqdm."""
    for name in ("stdout", "stderr"):
        if getattr(sys, name) is None:
            setattr(sys, name, open(os.devnull, "w", encoding="utf-8"))  # noqa: SIM115 (lives as long as the process)
