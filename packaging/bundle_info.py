"""Names and versions shared by the spec, the build helper and the platform scripts."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
APP_NAME = "Würstchen Desktop"  # what people see: window title, menu, Finder
BUNDLE_NAME = "Wuerstchen Desktop"  # file names: ASCII, so every archive tool and shell copes
EXE_NAME = "wuerstchen-desktop"
BUNDLE_ID = "io.github.wuerstchen-desktop"
MACOS_MINIMUM = "13.0"  # build.py checks every binary in the .app against it


def version() -> str:
    text = (ROOT / "wuerstchen_desktop" / "__init__.py").read_text(encoding="utf-8")
    found = re.search(r'^__version__ = "([^"]+)"', text, re.MULTILINE)
    if found is None:
        raise RuntimeError("no __version__ in wuerstchen_desktop/__init__.py")
    return found.group(1)
