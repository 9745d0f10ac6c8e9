"""One home each: the app's names and folders, the table of engine choices, the random seed, the errors.

The source is read with ``ast``, so a second copy anywhere in the package fails here, wherever it is.
"""

from __future__ import annotations

import ast
import importlib
import inspect

from tests.unit.import_graph import module_files
from wuerstchen_desktop.core.errors import WuerstchenError

MODULES = module_files()


def trees(skip: str) -> list[tuple[str, ast.AST]]:
    return [
        (name, ast.parse(path.read_text(encoding="utf-8"))) for name, path in MODULES.items() if name != skip
    ]


# -- the errors ------------------------------------------------------------------------------------
# Moves to core/errors.py with the job runner it belongs to (worker/tasks.py is being moved).
NOT_YET_HOME = {"PartlySaved"}


def test_every_error_a_user_meets_lives_in_core_errors() -> None:
    strays, unexplained = [], []
    for name in MODULES:
        module = importlib.import_module(name)
        for cls_name, cls in inspect.getmembers(module, inspect.isclass):
            if cls.__module__ != name or not issubclass(cls, BaseException):
                continue
            if issubclass(cls, WuerstchenError):
                if name != "wuerstchen_desktop.core.errors" and cls_name not in NOT_YET_HOME:
                    strays.append(f"{name}.{cls_name}")
            elif "Not a WuerstchenError" not in (cls.__doc__ or ""):
                unexplained.append(f"{name}.{cls_name}")  # a signal that stays inside its module says why
    assert strays == [] and unexplained == []
