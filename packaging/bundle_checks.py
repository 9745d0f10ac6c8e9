"""What the spec collects and what build.py checks, as plain functions over folders and file names, so
tests can run them on synthetic trees and the build on the real bundle.

    python packaging/bundle_checks.py release-sizes FILE...   # exit 1 if a file is too big for a Release
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable, Iterator
from importlib import metadata
from pathlib import Path, PurePosixPath, PureWindowsPath

# Windows' MAX_PATH is 260 characters with the terminating NUL; Explorer's "Extract all" fails beyond it.
WINDOWS_MAX_PATH = 259
# Explorer proposes Downloads\<archive name>\ as the target. A local account name has at most 20 characters.
EXPLORER_TARGET = PureWindowsPath("C:/Users", "u" * 20, "Downloads")
# GitHub refuses a release file of 2 GiB or more (and, in practice, some just under): parts stay below 2 GB.
RELEASE_FILE_LIMIT = 2 * 2**30
PART_SIZE = 1_900_000_000

# Build tools that are installed beside the app but not frozen into it.
NOT_SHIPPED = {"pip", "pyinstaller", "pyinstaller-hooks-contrib", "altgraph", "macholib", "pefile",
               "pywin32-ctypes", "wheel"}  # fmt: skip
_LICENCE_NAME = re.compile(r"^(licen[cs]e|copying|notice|authors)", re.IGNORECASE)
_SHARED_LIBRARY = re.compile(r"(\.so(\.\d+)*|\.dll)$")
_MACOS_TAG = re.compile(r"^macosx_(\d+)_(\d+)_\w+$")


# -- paths on Windows ---------------------------------------------------------------------------------------


def extracted_paths(bundle: Path, top: str, archive_stem: str) -> Iterator[PureWindowsPath]:
    """Where Explorer puts each file of the archive that holds ``bundle`` under ``top``."""
    base = EXPLORER_TARGET / archive_stem / top
    for path in bundle.rglob("*"):
        yield base / PureWindowsPath(*path.relative_to(bundle).parts)


def longest_extracted_path(bundle: Path, top: str, archive_stem: str) -> tuple[int, str]:
    longest = max((str(p) for p in extracted_paths(bundle, top, archive_stem)), key=len, default="")
    return len(longest), longest


def check_windows_paths(bundle: Path, top: str, archive_stem: str) -> int:
    """The longest path a Windows user gets from the archive; SystemExit if it passes MAX_PATH."""
    length, path = longest_extracted_path(bundle, top, archive_stem)
    print(f"longest path when unzipped by Explorer: {length} characters ({path})", flush=True)
    if length > WINDOWS_MAX_PATH:
        raise SystemExit(
            f"{path} has {length} characters, more than Windows' {WINDOWS_MAX_PATH}: "
            "shorten the archive's names or leave the file out of the bundle"
        )
    return length


# -- package metadata and licences --------------------------------------------------------------------------


def _dist_info(dist: metadata.Distribution) -> Path | None:
    folder = getattr(dist, "_path", None)  # PathDistribution: the .dist-info folder
    return Path(folder) if folder is not None else None


def _is_licence(relative: PurePosixPath) -> bool:
    return relative.parts[0] == "licenses" or bool(_LICENCE_NAME.match(relative.name))


def metadata_datas(names: Iterable[str]) -> list[tuple[str, str]]:
    """(file, destination folder) for the metadata of each installed distribution, without its licence
    files: transformers and huggingface_hub read versions at run time; the licences go into one file."""
    datas = []
    for name in names:
        try:
            folder = _dist_info(metadata.distribution(name))
        except metadata.PackageNotFoundError:
            continue  # not every one is installed on every platform
        if folder is None:
            continue
        for path in sorted(folder.rglob("*")):
            relative = PurePosixPath(*path.relative_to(folder).parts)
            if path.is_file() and not _is_licence(relative):
                datas.append((str(path), str(PurePosixPath(folder.name, *relative.parts[:-1]))))
    return datas


def is_metadata_licence(dest: str) -> bool:
    """Whether a file's place in the bundle is a licence file inside a package's .dist-info folder."""
    parts = re.split(r"[\\/]", dest)
    for i, part in enumerate(parts[:-1]):
        if part.endswith(".dist-info"):
            return _is_licence(PurePosixPath(*parts[i + 1 :]))
    return False


def without_licences(toc: list[tuple[str, str, str]]) -> list[tuple[str, str, str]]:
    """PyInstaller's data entries (destination, source, kind) without the licence files that its hooks
    collect with each package's metadata (transformers' hook and importlib.metadata calls do so for torch)."""
    return [entry for entry in toc if not is_metadata_licence(entry[0])]


def licence_texts(dist: metadata.Distribution) -> list[tuple[str, str]]:
    """(name within the distribution's metadata, text) of each licence file it ships."""
    folder = _dist_info(dist)
    if folder is None:
        return []
    found = []
    for path in sorted(folder.rglob("*")):
        relative = PurePosixPath(*path.relative_to(folder).parts)
        if path.is_file() and _is_licence(relative):
            found.append((str(relative), path.read_text(encoding="utf-8", errors="replace")))
    return found


def write_licences(out: Path, dists: Iterable[metadata.Distribution] | None = None) -> Path:
    """One text file with the licence of every distribution in the bundle (all installed ones but the
    build tools), in place of each one's licence tree: torch's alone nests paths past Windows' limit."""
    chosen = {}
    for dist in metadata.distributions() if dists is None else dists:
        name = (dist.metadata["Name"] or "").lower().replace("_", "-")
        if name and name not in NOT_SHIPPED:
            chosen[name] = dist
    parts = [f"Licences of the software in this bundle ({len(chosen)} distributions).\n"]
    for name in sorted(chosen):
        dist = chosen[name]
        declared = dist.metadata["License-Expression"] or dist.metadata["License"] or "see below"
        parts.append(f"\n{'=' * 78}\n{dist.metadata['Name']} {dist.version}: {declared.splitlines()[0]}\n")
        for relative, text in licence_texts(dist):
            parts.append(f"\n--- {relative} ---\n\n{text.rstrip()}\n")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("".join(parts), encoding="utf-8")
    return out


# -- CUDA libraries -----------------------------------------------------------------------------------------


def nvidia_libraries(site_packages: Path) -> list[tuple[str, str]]:
    """(library, destination folder) for each shared library of the nvidia-* wheels: nvidia/cu13/lib for
    CUDA 13's, nvidia/<name>/lib for cuDNN's and NCCL's. torch loads some with dlopen, so PyInstaller's
    dependency analysis misses them, and its hooks only know the older nvidia/<name>/lib layout."""
    found = []
    for folder in sorted((site_packages / "nvidia").glob("*/lib")) + sorted(
        (site_packages / "nvidia").glob("*/bin")
    ):
        for path in sorted(folder.iterdir()):
            if path.is_file() and _SHARED_LIBRARY.search(path.name):
                found.append((str(path), folder.relative_to(site_packages).as_posix()))
    return found


def missing_nvidia_libraries(site_packages: Path, contents: Path) -> list[str]:
    """The libraries of nvidia_libraries that are not at their place in the bundle's contents folder."""
    missing = []
    for library, folder in nvidia_libraries(site_packages):
        shipped = contents / folder / Path(library).name
        if not shipped.is_file():
            missing.append(f"{folder}/{Path(library).name}")
    return missing


# -- macOS --------------------------------------------------------------------------------------------------


def wheel_macos_minimum(filename: str) -> tuple[int, int] | None:
    """The oldest macOS a wheel installs on, from its platform tag (None when it is not for macOS)."""
    platform = filename.removesuffix(".whl").split("-")[-1]
    versions = [m.groups() for tag in platform.split(".") if (m := _MACOS_TAG.match(tag))]
    if not versions:
        return None
    return min((int(major), int(minor)) for major, minor in versions)


def newest_macos_minimum(filenames: Iterable[str]) -> tuple[tuple[int, int], str]:
    """The highest minimum among the wheels, and the first wheel that sets it."""
    found = [(v, name) for name in filenames if (v := wheel_macos_minimum(name)) is not None]
    return max(found, key=lambda item: item[0], default=((0, 0), ""))


def version_tuple(version: str) -> tuple[int, ...]:
    return tuple(int(p) for p in version.split("."))


# -- release files ------------------------------------------------------------------------------------------


def split_file(path: Path, part_size: int = PART_SIZE) -> list[Path]:
    """Split a file too big for a GitHub Release into NAME.001, NAME.002, ... (joined again with `cat` or
    `copy /b`, or opened by 7-Zip); the whole file is removed. Smaller files stay as they are."""
    if path.stat().st_size <= part_size:
        return [path]
    parts: list[Path] = []
    with path.open("rb") as source:
        while True:
            left = part_size
            chunk = source.read(min(left, 2**26))
            if not chunk:
                break
            part = path.with_name(f"{path.name}.{len(parts) + 1:03d}")
            with part.open("wb") as out:
                while chunk:
                    out.write(chunk)
                    left -= len(chunk)
                    chunk = source.read(min(left, 2**26)) if left else b""
            parts.append(part)
    path.unlink()
    return parts


def too_big_for_a_release(files: Iterable[Path]) -> list[str]:
    return [f"{p} ({p.stat().st_size} bytes)" for p in files if p.stat().st_size >= RELEASE_FILE_LIMIT]


def main(argv: list[str]) -> int:
    if len(argv) < 2 or argv[0] != "release-sizes":
        print(__doc__, file=sys.stderr)
        return 2
    too_big = too_big_for_a_release(Path(a) for a in argv[1:])
    for line in too_big:
        print(f"too big for a GitHub Release (2 GiB per file): {line}", file=sys.stderr)
    return 1 if too_big else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
