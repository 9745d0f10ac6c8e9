"""The package's import graph read from source with ``ast``: module-level and function-level imports both
count, imports under ``if TYPE_CHECKING:`` do not (they never run)."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import wuerstchen_desktop

PACKAGE = "wuerstchen_desktop"
ROOT = Path(wuerstchen_desktop.__file__).parent


def module_files(root: Path = ROOT, package: str = PACKAGE) -> dict[str, Path]:
    """Every module of the package by dotted name; a package is named by its ``__init__.py``."""
    found = {}
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join([package, *parts])] = path
    return found


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(node: ast.AST, type_checking: bool) -> Iterator[ast.Import | ast.ImportFrom]:
    for child in ast.iter_child_nodes(node):
        if isinstance(child, (ast.Import, ast.ImportFrom)):
            yield child
        elif isinstance(child, ast.If) and _is_type_checking(child.test) and not type_checking:
            for other in child.orelse:
                yield from _imports(ast.Module(body=[other], type_ignores=[]), type_checking)
        else:
            yield from _imports(child, type_checking)


def imported_names(name: str, path: Path, type_checking: bool = False) -> set[str]:
    """Dotted names module ``name`` (at ``path``) imports; ``from a import b`` gives both ``a`` and ``a.b``
    (the caller keeps whichever is a module). Imports under ``if TYPE_CHECKING:`` only if asked."""
    is_package = path.name == "__init__.py"
    names: set[str] = set()
    for node in _imports(ast.parse(path.read_text(encoding="utf-8"), str(path)), type_checking):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
            continue
        base = node.module or ""
        if node.level:
            parent = name.split(".")
            parent = parent[: len(parent) - node.level + (1 if is_package else 0)]
            base = ".".join(parent + ([base] if base else []))
        names.add(base)
        names.update(f"{base}.{alias.name}" for alias in node.names)
    return names


def graph(files: dict[str, Path] | None = None) -> dict[str, set[str]]:
    """Module -> the package's modules it imports."""
    files = files if files is not None else module_files()
    edges: dict[str, set[str]] = {}
    for name, path in files.items():
        targets = set()
        for imported in imported_names(name, path):
            if imported in files:  # ``from pkg import mod`` names a module; ``from mod import f`` its module
                targets.add(imported)
        edges[name] = targets - {name}
    return edges


def cycles(edges: dict[str, set[str]]) -> list[tuple[str, ...]]:
    """Every import circle, as the sorted members of each strongly connected component (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[tuple[str, ...]] = []

    def visit(node: str) -> None:
        # iterative, so a long chain of imports cannot hit the recursion limit
        work = [(node, iter(sorted(edges.get(node, ()))))]
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        while work:
            current, children = work[-1]
            for child in children:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges.get(child, ())))))
                    break
                if child in on_stack:
                    low[current] = min(low[current], index[child])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[current])
                if low[current] == index[current]:
                    members = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        members.append(member)
                        if member == current:
                            break
                    if len(members) > 1:
                        found.append(tuple(sorted(members)))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return sorted(found)
