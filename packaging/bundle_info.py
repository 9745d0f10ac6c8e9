"""Names and versions shared by the spec, the build helper and the platform scripts."""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
APP_NAME = "Würstchen Desktop"  # what people see: window title, menu, Finder
BUNDLE_NAME = "Wuerstchen Desktop"  # file names: ASCII, so every archive tool and shell copes
EXE_NAME = "wuerstchen-desktop"
BUNDLE_ID = "io.github.wuerstchen-desktop"
# torch's, PySide6's and numpy's arm64 wheels need macOS 14; build.py checks every binary in the .app
# against it, tests/packaging the wheels' tags.
MACOS_MINIMUM = "14.0"
# Every bundle's torch: a job whose index lacks it fails at `pip install` instead of taking an older one.
TORCH_VERSION = "2.13.0"


def version() -> str:
    text = (ROOT / "wuerstchen_desktop" / "__init__.py").read_text(encoding="utf-8")
    found = re.search(r'^__version__ = "([^"]+)"', text, re.MULTILINE)
    if found is None:
        raise RuntimeError("no __version__ in wuerstchen_desktop/__init__.py")
    return found.group(1)


if __name__ == "__main__":
    # For the build scripts: `python packaging/bundle_info.py torch` prints the torch requirement.
    if sys.argv[1:] != ["torch"]:
        sys.exit("usage: bundle_info.py torch")
    print(f"torch=={TORCH_VERSION}")
