"""Imports point one way: core never imports Qt; the window and its start-up never import torch."""

from __future__ import annotations

import ast
import importlib
import pkgutil
import subprocess
import sys


def modules(package: str) -> list[str]:
    pkg = importlib.import_module(package)
    return [m.name for m in pkgutil.walk_packages(pkg.__path__, package + ".")]


def imported_after(names: list[str], forbidden: tuple[str, ...]) -> list[str]:
    """Import ``names`` in a fresh interpreter; return the forbidden top-level packages that came along."""
    code = (
        "import importlib, sys\n"
        f"for name in {names!r}: importlib.import_module(name)\n"
        f"print(sorted({{m.split('.')[0] for m in sys.modules}} & set({forbidden!r})))\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    return list(ast.literal_eval(run.stdout.strip().splitlines()[-1]))


def test_core_does_not_import_qt() -> None:
    names = modules("wuerstchen_desktop.core")
    assert "wuerstchen_desktop.core.engine.pipeline" in names
    assert imported_after(names, ("PySide6", "shiboken6", "PyQt5", "PyQt6")) == []


def test_ui_worker_and_startup_do_not_import_torch() -> None:
    """The window must be up before torch and transformers load (they load in the worker thread)."""
    names = [
        *modules("wuerstchen_desktop.ui"),
        *modules("wuerstchen_desktop.worker"),
        "wuerstchen_desktop.app",
        "wuerstchen_desktop.cli",
    ]
    assert "wuerstchen_desktop.ui.main_window" in names
    assert imported_after(names, ("torch", "transformers", "diffusers", "safetensors")) == []
