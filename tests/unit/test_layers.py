"""Imports point one way: core never imports Qt."""

from __future__ import annotations

import pkgutil
import subprocess
import sys

import wuerstchen_desktop.core


def core_modules() -> list[str]:
    return [
        m.name for m in pkgutil.walk_packages(wuerstchen_desktop.core.__path__, "wuerstchen_desktop.core.")
    ]


def test_core_does_not_import_qt() -> None:
    modules = core_modules()
    assert "wuerstchen_desktop.core.pipeline" in modules
    code = (
        "import importlib, sys\n"
        f"for name in {modules!r}: importlib.import_module(name)\n"
        "qt = ('PySide6', 'shiboken6', 'PyQt5', 'PyQt6')\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in qt)\n"
        "print(bad); sys.exit(1 if bad else 0)\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
