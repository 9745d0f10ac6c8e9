"""No import circle anywhere in the package; the Hub code never imports torch; the engine does not reach into
image files or the output-folder library (DESIGN.md, "Layers"); only the self-test imports the testing
package."""

from __future__ import annotations

import textwrap
from pathlib import Path

from tests.helpers.import_graph import PACKAGE, cycles, graph, imported_names, module_files

CORE = f"{PACKAGE}.core"
TESTING = f"{PACKAGE}.testing"
HEAVY = ("torch", "transformers", "diffusers", "safetensors.torch")


def test_no_import_circle() -> None:
    found = cycles(graph())
    assert found == [], "import circles:\n" + "\n".join(" <-> ".join(c) for c in found)


def test_the_graph_sees_what_the_tree_holds() -> None:
    edges = graph()
    assert f"{CORE}.engine.pipeline" in edges
    assert f"{CORE}.hub.download" in edges[f"{CORE}.engine.checkpoints"]  # a lazy import inside a function
    assert f"{CORE}.hub.fetch" in edges[f"{CORE}.hub.download"]  # likewise
    # fetch names the plan types for annotations only, under TYPE_CHECKING: no edge back
    assert f"{CORE}.hub.download" not in edges[f"{CORE}.hub.fetch"]


def _package(root: Path, files: dict[str, str]) -> dict[str, Path]:
    for name, text in files.items():
        path = root / "pkg" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")
    return module_files(root / "pkg", "pkg")


def test_circles_through_lazy_and_relative_imports_are_found(tmp_path: Path) -> None:
    files = _package(
        tmp_path,
        {
            "__init__.py": '"""p"""\n',
            "a.py": "from pkg.b import f\n",
            "b.py": "def f():\n    from pkg import c\n",
            "sub/__init__.py": "",
            "c.py": "from .sub import d\n",
            "sub/d.py": "from ..a import x\n",
            "e.py": "import pkg.f\n",
            "f.py": "def g():\n    import pkg.e\n",
            "g.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg import h\n",
            "h.py": "from pkg.g import y\n",
        },
    )
    assert cycles(graph(files)) == [("pkg.a", "pkg.b", "pkg.c", "pkg.sub.d"), ("pkg.e", "pkg.f")]


def _core_edges(src: str, dst: str) -> set[tuple[str, str]]:
    edges = graph()
    return {
        (a.removeprefix(f"{CORE}."), b.removeprefix(f"{CORE}."))
        for a, targets in edges.items()
        if a.startswith(f"{CORE}.{src}.")
        for b in targets
        if b.startswith(f"{CORE}.{dst}.")
    }


def test_engine_imports_nothing_from_imagefile_or_library() -> None:
    found = _core_edges("engine", "imagefile") | _core_edges("engine", "library")
    assert not found, f"core/engine must not import image files or the library: {sorted(found)}"


def test_only_the_job_runner_builds_and_writes_image_files() -> None:
    """The command line and the window make files through core/jobs alone; the engine makes tensors."""
    writers = {f"{CORE}.imagefile.imagefile.{name}" for name in ("make_record", "write_image")}
    found = {
        name.removeprefix(f"{PACKAGE}.")
        for name, path in module_files().items()
        if not name.startswith((f"{CORE}.imagefile.", f"{CORE}.jobs."))
        and imported_names(name, path, type_checking=True) & writers
    }
    assert found == set()


def _heavy(names: set[str]) -> set[str]:
    return {n for n in names if any(n == h or n.startswith(h + ".") for h in HEAVY)}


def test_hub_never_imports_torch() -> None:
    """Not at module level, not lazily, not even for annotations; nor through the package's own modules."""
    files = module_files()
    hub = {name: path for name, path in files.items() if name.startswith(f"{CORE}.hub")}
    assert f"{CORE}.hub.download" in hub
    direct = {name: _heavy(imported_names(name, path, type_checking=True)) for name, path in hub.items()}
    assert {name: found for name, found in direct.items() if found} == {}

    edges = graph(files)
    reached, todo = set(), list(hub)
    while todo:
        name = todo.pop()
        if name not in reached:
            reached.add(name)
            todo.extend(edges[name])
    heavy = {name for name in reached if _heavy(imported_names(name, files[name]))}
    assert heavy == set(), f"the hub reaches torch through {sorted(heavy)}"


def test_hub_torch_scan_sees_lazy_and_type_only_imports(tmp_path: Path) -> None:
    files = _package(
        tmp_path,
        {
            "lazy.py": "def f():\n    import torch.nn\n",
            "typed.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import transformers\n",
            "st.py": "from safetensors.torch import load_file\n",
            "fine.py": "from safetensors import safe_open\nimport torchvision_like\n",
        },
    )
    found = {name: _heavy(imported_names(name, path, type_checking=True)) for name, path in files.items()}
    assert found == {
        "pkg.lazy": {"torch.nn"},
        "pkg.typed": {"transformers"},
        "pkg.st": {"safetensors.torch", "safetensors.torch.load_file"},
        "pkg.fine": set(),
    }


def importers_of(edges: dict[str, set[str]], target: str, allowed: set[str]) -> set[str]:
    """Modules outside package ``target`` and ``allowed`` that import ``target`` or one of its modules."""

    def inside(name: str) -> bool:
        return name == target or name.startswith(target + ".")

    return {
        name
        for name, targets in edges.items()
        if not inside(name) and name not in allowed and any(map(inside, targets))
    }


def test_only_the_self_test_imports_the_testing_package() -> None:
    """Random-weight checkpoints are for the tests and the bundle's self-test, never for the app's work."""
    edges = graph()
    assert f"{TESTING}.checkpoints" in edges[f"{PACKAGE}.selftest"]  # a lazy import inside a function
    assert importers_of(edges, TESTING, {f"{PACKAGE}.selftest"}) == set()


def test_imports_of_the_testing_package_are_found(tmp_path: Path) -> None:
    files = _package(
        tmp_path,
        {
            "__init__.py": "",
            "selftest.py": "def run():\n    from pkg.testing import checkpoints\n",
            "testing/__init__.py": "",
            "testing/checkpoints.py": "from pkg.core import models\n",
            "testing/more.py": "from . import checkpoints\n",
            "core/__init__.py": "",
            "core/models.py": "",
            "core/engine.py": "def f():\n    from pkg.testing.checkpoints import randomize\n",
            "core/typed.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import pkg.testing\n",
            "cli.py": "from .testing import more\n",
            "ui.py": "import pkg.testing.checkpoints as c\n",
        },
    )
    assert importers_of(graph(files), "pkg.testing", {"pkg.selftest"}) == {
        "pkg.core.engine",
        "pkg.cli",
        "pkg.ui",
    }
