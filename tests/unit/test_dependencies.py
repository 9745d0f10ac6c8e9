"""Every package the app imports is declared, and the declared lower bounds are the versions CI tests.

The import scan reads the source, so a module imported only inside a function (as the downloader does with
the HTTP client) counts too. Which distribution provides an import name comes from the installed packages'
own metadata (``importlib.metadata.packages_distributions``), not from a table kept here.
"""

from __future__ import annotations

import ast
import importlib.metadata
import re
import sys
from pathlib import Path

import wuerstchen_desktop

if sys.version_info >= (3, 11):
    import tomllib
else:  # pytest itself requires tomli before 3.11
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = Path(wuerstchen_desktop.__file__).parent
MINIMUMS = ROOT / ".ci" / "minimum-versions.txt"


def normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def declared() -> dict[str, str]:
    """Distribution name -> its requirement string, from pyproject.toml's runtime dependencies."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    out = {}
    for req in project["dependencies"]:
        name = re.match(r"[A-Za-z0-9_.\-]+", req)
        assert name, req
        out[normalise(name.group(0))] = req
    return out


def imported_top_level_names() -> dict[str, str]:
    """Top-level module name -> one file that imports it, over every module of the app."""
    found: dict[str, str] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                found.setdefault(name.split(".")[0], str(path.relative_to(ROOT)))
    return found


def test_every_imported_package_is_declared() -> None:
    providers = importlib.metadata.packages_distributions()
    deps = declared()
    missing = []
    for name, where in imported_top_level_names().items():
        if name == "wuerstchen_desktop" or name in sys.stdlib_module_names:
            continue
        dists = {normalise(d) for d in providers.get(name, [])}
        assert dists, f"{name} (imported in {where}) is not installed, so its distribution is unknown"
        if not dists & deps.keys():
            missing.append(f"{name} from {sorted(dists)} (imported in {where})")
    assert missing == [], "imported but not declared in pyproject.toml: " + "; ".join(missing)


def test_lower_bounds_are_the_versions_ci_installs() -> None:
    """CI installs .ci/minimum-versions.txt and runs the unit tests on it; it must pin each declared lower
    bound exactly, or the bound is a claim nothing checks."""
    pins = {}
    for line in MINIMUMS.read_text(encoding="utf-8").splitlines():
        line = line.split("#")[0].strip()
        if line:
            name, _, version = line.partition("==")
            pins[normalise(name)] = version.strip()
    for dist, req in declared().items():
        lower = re.search(r">=\s*([0-9][0-9A-Za-z.]*)", req)
        assert lower, f"{req}: every runtime dependency needs a lower bound"
        assert pins.get(dist) == lower.group(1), f"{req}: .ci/minimum-versions.txt pins {pins.get(dist)}"
