"""The packaging scripts (packaging/*.py are not a package) loaded as modules for the tests."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[2]


def load_packaging(stem: str, name: str | None = None) -> ModuleType:
    """``packaging/<stem>.py`` as the module ``name`` (default ``stem``), registered so the scripts' own
    imports of each other find it."""
    name = name or stem
    spec = importlib.util.spec_from_file_location(name, ROOT / "packaging" / f"{stem}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module
