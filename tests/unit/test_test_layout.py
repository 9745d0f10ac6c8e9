"""Where test code lives: helpers in tests/helpers, fixtures in conftest.py files, tests in test_*.py files.
No file under tests/ imports a conftest or a test module (pytest imports those itself, and a second import
under another name runs them twice); a conftest.py holds fixtures and pytest hooks only."""

from __future__ import annotations

import ast
import textwrap
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]


def _module_name(path: Path, root: Path) -> list[str]:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    return parts[:-1] if parts[-1] == "__init__" else parts


def _imported_modules(node: ast.Import | ast.ImportFrom, here: list[str], is_package: bool) -> list[str]:
    """Dotted names an import may load as a module: ``from a import b`` gives ``a`` and ``a.b``."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    base = node.module or ""
    if node.level:
        package = here if is_package else here[:-1]
        parent = package[: len(package) - node.level + 1]
        base = ".".join(parent + ([base] if base else []))
    return [base, *(f"{base}.{alias.name}" for alias in node.names)]


def _is_test_code(name: str) -> bool:
    last = name.rsplit(".", 1)[-1]
    return last == "conftest" or last.startswith("test_")


def imports_of_test_code(root: Path = TESTS) -> list[str]:
    """``file:line name`` for every import, at any depth of a file under ``root``, of a conftest or a
    ``test_*`` module."""
    found = []
    for path in sorted(root.rglob("*.py")):
        here = _module_name(path, root)
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                names = _imported_modules(node, here, path.name == "__init__.py")
                # ``from tests.unit import conftest`` names it in the second entry
                found += [f"{path.relative_to(root)}:{node.lineno} {n}" for n in names if _is_test_code(n)][
                    :1
                ]
    return found


def _is_fixture(decorator: ast.expr) -> bool:
    target = decorator.func if isinstance(decorator, ast.Call) else decorator
    return (isinstance(target, ast.Attribute) and target.attr == "fixture") or (
        isinstance(target, ast.Name) and target.id == "fixture"
    )


def conftest_non_fixtures(root: Path = TESTS) -> list[str]:
    """``file:line what`` for each top-level definition in a conftest.py that is not a fixture or a pytest
    hook, and for a ``pytestmark`` there (pytest reads it only from test modules: in a conftest it marks
    nothing)."""
    found = []
    for path in sorted(root.rglob("conftest.py")):
        for node in ast.parse(path.read_text(encoding="utf-8"), str(path)).body:
            where = f"{path.relative_to(root)}:{node.lineno}"
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                if not node.name.startswith("pytest_") and not any(map(_is_fixture, node.decorator_list)):
                    found.append(f"{where} {node.name}")
            elif isinstance(node, ast.ClassDef):
                found.append(f"{where} {node.name}")
            elif isinstance(node, (ast.Assign, ast.AnnAssign)):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                if any(isinstance(t, ast.Name) and t.id == "pytestmark" for t in targets):
                    found.append(f"{where} pytestmark")
    return found


def test_nothing_imports_a_conftest_or_a_test_module() -> None:
    assert (TESTS / "conftest.py").is_file()
    assert imports_of_test_code() == []


def test_conftest_files_hold_only_fixtures_and_hooks() -> None:
    assert (TESTS / "conftest.py").is_file()
    assert conftest_non_fixtures() == []


def _tree(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / "tests" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")
    return root / "tests"


def test_every_way_of_importing_test_code_is_found(tmp_path: Path) -> None:
    tests = _tree(
        tmp_path,
        {
            "__init__.py": "",
            "conftest.py": "",
            "helpers/__init__.py": "",
            "helpers/fine.py": "from tests.helpers import cli\nfrom torch._dynamo import utils\n",
            "helpers/cli.py": "from .fine import x\n",
            "unit/__init__.py": "",
            "unit/conftest.py": "",
            "unit/test_a.py": "from tests.unit.conftest import fast\n",
            "unit/test_b.py": "def t():\n    from .conftest import fast\n",
            "unit/test_c.py": "import conftest\n",
            "unit/test_d.py": "from tests.unit import conftest\n",
            "unit/test_e.py": "from tests.unit.test_a import x\n",
            "unit/test_f.py": "from . import test_a\n",
            "unit/test_g.py": "import tests.unit.test_a as a\n",
            "unit/test_h.py": "from tests import conftest\n",
            "qt/__init__.py": "",
            "qt/test_i.py": "from ..unit.test_a import x\n",
        },
    )
    assert imports_of_test_code(tests) == [
        "qt/test_i.py:1 tests.unit.test_a",
        "unit/test_a.py:1 tests.unit.conftest",
        "unit/test_b.py:2 tests.unit.conftest",
        "unit/test_c.py:1 conftest",
        "unit/test_d.py:1 tests.unit.conftest",
        "unit/test_e.py:1 tests.unit.test_a",
        "unit/test_f.py:1 tests.unit.test_a",
        "unit/test_g.py:1 tests.unit.test_a",
        "unit/test_h.py:1 tests.conftest",
    ]


def test_helpers_and_marks_in_a_conftest_are_found(tmp_path: Path) -> None:
    tests = _tree(
        tmp_path,
        {
            "conftest.py": """\
                import os
                import pytest
                from pytest import fixture

                os.environ.setdefault("A", "1")
                WARNINGS = ("harmless",)

                def pytest_collection_modifyitems(items):
                    pass

                @pytest.fixture(scope="session")
                def one():
                    return 1

                @fixture
                def two():
                    return 2

                def helper():
                    return 3

                class Thing:
                    pass
                """,
            "parity/conftest.py": "import pytest\n\npytestmark = pytest.mark.parity\n",
        },
    )
    assert conftest_non_fixtures(tests) == [
        "conftest.py:19 helper",
        "conftest.py:22 Thing",
        "parity/conftest.py:3 pytestmark",
    ]
