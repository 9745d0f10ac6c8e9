"""The wheels the macOS bundle is built from, as the package index offers them today, run on the macOS
that the bundle's Info.plist promises (LSMinimumSystemVersion): else build.py's check stops the build.

Needs the package index (PyPI), as CI's minimum-versions environment does; pip only resolves (metadata,
no installation).
"""

from __future__ import annotations

import contextlib
import json
import re
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import tomllib
from packaging.requirements import Requirement

from tests.helpers.packaging_scripts import ROOT, load_packaging

checks = load_packaging("bundle_checks")
bundle_info = load_packaging("bundle_info")


def build_runner() -> tuple[str, str]:
    """The macOS version and Python of the workflow's macOS job: pip there picks the wheels for them."""
    workflow = (ROOT / ".github" / "workflows" / "bundles.yml").read_text(encoding="utf-8")
    macos = re.search(r"os: macos-(\d+)", workflow)
    python = re.search(r'python-version: "(3\.\d+)"', workflow)
    assert macos and python, "the workflow names its macOS runner and Python"
    return macos.group(1), python.group(1)


def dependencies(requirements: list[str]) -> set[str]:
    """The names of these requirements and of everything they need, as installed here. (pip's --platform
    does not change how markers are read, so pip cannot resolve another platform's dependencies itself.)"""
    names: set[str] = set()
    todo = [Requirement(r) for r in requirements]
    while todo:
        req = todo.pop()
        name = req.name.lower().replace("_", "-")
        if name in names or (req.marker is not None and not req.marker.evaluate({"extra": ""})):
            continue
        names.add(name)
        with contextlib.suppress(metadata.PackageNotFoundError):  # a dependency of another platform
            todo += [Requirement(r) for r in metadata.requires(name) or []]
    return names


def test_every_wheel_runs_on_the_promised_macos(tmp_path: Path) -> None:
    macos, python = build_runner()
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    direct = project["dependencies"] + project["optional-dependencies"]["bundle"]
    requirements = [f"torch=={bundle_info.TORCH_VERSION}"] + [r for r in direct if not r.startswith("torch")]
    requirements += sorted(dependencies(direct) - {Requirement(r).name.lower() for r in direct})
    report = tmp_path / "report.json"

    proc = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--dry-run", "--quiet", "--ignore-installed",
         "--only-binary=:all:", "--no-deps", "--platform", f"macosx_{macos}_0_arm64",
         "--python-version", python, "--target", str(tmp_path / "target"), "--report", str(report),
         *requirements],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip

    assert proc.returncode == 0, f"pip could not resolve the wheels (is the index reachable?)\n{proc.stderr}"
    wheels = [
        item["download_info"]["url"].rsplit("/", 1)[1] for item in json.loads(report.read_text())["install"]
    ]
    assert any(w.startswith("torch-") for w in wheels) and any(w.startswith("shiboken6-") for w in wheels)
    print(f"{len(wheels)} wheels for macOS {macos} arm64")
    newest, wheel = checks.newest_macos_minimum(wheels)
    assert newest <= checks.version_tuple(bundle_info.MACOS_MINIMUM), (
        f"{wheel} needs macOS {newest[0]}.{newest[1]}: raise MACOS_MINIMUM in packaging/bundle_info.py"
    )
