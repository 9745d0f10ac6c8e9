"""packaging/bundle_checks.py on synthetic trees and on this environment's real packages: the longest
path a Windows user unzips, the one licence file, the CUDA libraries collected, the wheels' macOS tags, the
parts of an archive too big for a GitHub Release."""

from __future__ import annotations

from importlib import metadata
from pathlib import Path, PureWindowsPath

import pytest

from tests.helpers.packaging_scripts import load_packaging

checks = load_packaging("bundle_checks")
bundle_info = load_packaging("bundle_info")


def touch(path: Path, text: str = "x") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


# -- the longest path on Windows ----------------------------------------------------------------------------


def test_the_path_is_where_explorer_unzips_it(tmp_path: Path) -> None:
    touch(tmp_path / "_internal" / "torch" / "lib" / "c10.dll")

    length, path = checks.longest_extracted_path(tmp_path, "wuerstchen-desktop", "Wuerstchen-Desktop-0.1.0-x")

    user = "u" * 20  # the longest local account name
    inside = r"wuerstchen-desktop\_internal\torch\lib\c10.dll"
    expected = rf"C:\Users\{user}\Downloads\Wuerstchen-Desktop-0.1.0-x\{inside}"
    assert path == expected and length == len(expected)
    assert PureWindowsPath(path).drive == "C:"


def test_a_path_past_the_limit_stops_the_build(tmp_path: Path) -> None:
    # torch's own licence tree, as copy_metadata("torch") shipped it.
    deep = (
        "_internal/torch-2.13.0+cu130.dist-info/licenses/third_party/kineto/libkineto/third_party/dynolog/"
        "third_party/prometheus-cpp/3rdparty/civetweb/src/third_party/duktape-1.8.0/LICENSE.txt"
    )
    touch(tmp_path / "ok" / "_internal" / "torch" / "lib" / "torch_cpu.dll")
    touch(tmp_path / "deep" / deep)
    stem = "Wuerstchen-Desktop-0.1.0-windows-x86_64-cuda"

    assert checks.check_windows_paths(tmp_path / "ok", "wuerstchen-desktop", stem) <= checks.WINDOWS_MAX_PATH
    with pytest.raises(SystemExit, match=r"duktape-1\.8\.0\\LICENSE\.txt has 2\d\d characters, more than"):
        checks.check_windows_paths(tmp_path / "deep", "wuerstchen-desktop", stem)


# -- metadata and licences ----------------------------------------------------------------------------------


def fake_site_packages(root: Path) -> Path:
    demo = root / "demo-1.0.dist-info"
    touch(demo / "METADATA", "Metadata-Version: 2.4\nName: demo\nVersion: 1.0\nLicense-Expression: MIT\n")
    touch(demo / "RECORD", "")
    touch(demo / "licenses" / "LICENSE", "Demo licence text.")
    touch(demo / "licenses" / "third_party" / "zlib" / "COPYING", "zlib licence text.")
    touch(root / "pip-26.0.dist-info" / "METADATA", "Metadata-Version: 2.1\nName: pip\nVersion: 26.0\n")
    touch(root / "pip-26.0.dist-info" / "LICENSE.txt", "pip licence text.")
    return root


def test_one_licence_file_holds_every_licence_text(tmp_path: Path) -> None:
    site = fake_site_packages(tmp_path / "site")

    out = checks.write_licences(tmp_path / "LICENSES.txt", metadata.distributions(path=[str(site)]))

    text = out.read_text(encoding="utf-8")
    assert "demo 1.0: MIT" in text
    assert "--- licenses/LICENSE ---\n\nDemo licence text." in text
    assert "--- licenses/third_party/zlib/COPYING ---\n\nzlib licence text." in text
    assert "pip licence text." not in text  # a build tool, not in the bundle


def test_torchs_licences_go_into_the_file_and_not_into_its_metadata(tmp_path: Path) -> None:
    torch_dist = metadata.distribution("torch")
    licences = checks.licence_texts(torch_dist)
    assert any(name.startswith("licenses/third_party/") for name, _ in licences)

    datas = checks.metadata_datas(["torch", "not-installed-anywhere"])

    shipped = {Path(src).name for src, _ in datas}
    assert "METADATA" in shipped
    assert not any("/licenses/" in Path(src).as_posix() for src, _ in datas)
    assert max(len(dest) for _, dest in datas) < 40  # the dist-info folder, nothing nested below it
    # transformers reads torch's version from the shipped METADATA
    dest = {dest for src, dest in datas if Path(src).name == "METADATA"}
    assert dest == {Path(torch_dist._path).name}  # type: ignore[attr-defined]

    text = checks.write_licences(tmp_path / "LICENSES.txt").read_text(encoding="utf-8")
    name, licence = licences[-1]
    assert f"--- {name} ---" in text and licence.strip()[:200] in text
    assert f"torch {torch_dist.version}:" in text


# -- CUDA libraries -----------------------------------------------------------------------------------------


def test_cuda_13_libraries_are_collected_where_torch_looks(tmp_path: Path) -> None:
    site = tmp_path / "site-packages"
    touch(site / "nvidia" / "__init__.py")
    cu13 = site / "nvidia" / "cu13"
    for name in ("libcublas.so.13", "libcudart.so.13", "libnvrtc-builtins.so.13.0", "libcudart_static.a"):
        touch(cu13 / "lib" / name)
    touch(cu13 / "include" / "cuda.h")
    touch(site / "nvidia" / "cudnn" / "lib" / "libcudnn_engines_precompiled.so.9")
    touch(site / "torch" / "lib" / "libtorch_cuda.so")

    found = checks.nvidia_libraries(site)

    assert [(Path(src).name, dest) for src, dest in found] == [
        ("libcublas.so.13", "nvidia/cu13/lib"),
        ("libcudart.so.13", "nvidia/cu13/lib"),
        ("libnvrtc-builtins.so.13.0", "nvidia/cu13/lib"),
        ("libcudnn_engines_precompiled.so.9", "nvidia/cudnn/lib"),
    ]
    contents = tmp_path / "bundle" / "_internal"
    touch(contents / "nvidia" / "cu13" / "lib" / "libcublas.so.13")
    touch(contents / "nvidia" / "cu13" / "lib" / "libcudart.so.13")
    assert checks.missing_nvidia_libraries(site, contents) == [
        "nvidia/cu13/lib/libnvrtc-builtins.so.13.0",
        "nvidia/cudnn/lib/libcudnn_engines_precompiled.so.9",
    ]
    assert checks.nvidia_libraries(tmp_path / "no-nvidia") == []


# -- macOS --------------------------------------------------------------------------------------------------

# Wheels PyPI offers for macOS arm64 (torch 2.13.0, PySide6 6.12.0, numpy 2.4.6, PyInstaller 6.22.3).
WHEELS = [
    "torch-2.13.0-cp311-cp311-macosx_14_0_arm64.whl",
    "pyside6_essentials-6.12.0-cp310-abi3-macosx_14_0_universal2.whl",
    "shiboken6-6.12.0-cp310-abi3-macosx_14_0_universal2.whl",
    "numpy-2.4.6-cp311-cp311-macosx_11_0_arm64.whl",
    "pyinstaller-6.22.3-py3-none-macosx_10_13_universal2.whl",
    "safetensors-0.8.0-cp310-abi3-macosx_10_12_x86_64.macosx_11_0_arm64.whl",
    "tokenizers-0.23.3-cp310-abi3-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
    "pillow-13.0.0-py3-none-any.whl",
]


def test_the_macos_minimum_of_each_wheel() -> None:
    assert checks.wheel_macos_minimum(WHEELS[0]) == (14, 0)
    assert checks.wheel_macos_minimum(WHEELS[1]) == (14, 0)
    assert checks.wheel_macos_minimum(WHEELS[4]) == (10, 13)
    assert checks.wheel_macos_minimum(WHEELS[5]) == (10, 12)  # the oldest tag of a compressed set
    assert checks.wheel_macos_minimum(WHEELS[6]) is None
    assert checks.wheel_macos_minimum(WHEELS[7]) is None
    assert checks.newest_macos_minimum(WHEELS) == ((14, 0), WHEELS[0])


def test_the_bundle_promises_no_older_macos_than_its_wheels_need() -> None:
    (major, minor), _ = checks.newest_macos_minimum(WHEELS)
    assert checks.version_tuple(bundle_info.MACOS_MINIMUM) >= (major, minor)


# -- release files ------------------------------------------------------------------------------------------


def test_an_archive_too_big_for_a_release_is_split(tmp_path: Path) -> None:
    data = bytes(range(256)) * 10  # 2560 bytes
    archive = tmp_path / "bundle.tar.gz"
    archive.write_bytes(data)

    parts = checks.split_file(archive, part_size=1000)

    assert [p.name for p in parts] == ["bundle.tar.gz.001", "bundle.tar.gz.002", "bundle.tar.gz.003"]
    assert [p.stat().st_size for p in parts] == [1000, 1000, 560]
    assert b"".join(p.read_bytes() for p in parts) == data
    assert not archive.exists()
    small = tmp_path / "small.zip"
    small.write_bytes(data)
    assert checks.split_file(small, part_size=len(data)) == [small]


def test_files_of_2_gib_are_refused(tmp_path: Path) -> None:
    big, part = tmp_path / "big.zip", tmp_path / "big.zip.001"
    with big.open("wb") as f:
        f.truncate(checks.RELEASE_FILE_LIMIT)  # sparse: no disk used
    with part.open("wb") as f:
        f.truncate(checks.PART_SIZE)

    assert checks.too_big_for_a_release([big, part]) == [f"{big} ({checks.RELEASE_FILE_LIMIT} bytes)"]
    assert checks.main(["release-sizes", str(part)]) == 0
    assert checks.main(["release-sizes", str(part), str(big)]) == 1
    assert checks.PART_SIZE < checks.RELEASE_FILE_LIMIT


def test_licence_files_that_hooks_collect_with_metadata_are_dropped() -> None:
    # (destination, source, kind) as PyInstaller's Analysis lists them; Windows builds use backslashes.
    toc = [
        ("torch-2.13.0+cu130.dist-info/licenses/third_party/kineto/LICENSE", "/s/1", "DATA"),
        ("torch-2.13.0+cu130.dist-info\\licenses\\LICENSE", "/s/2", "DATA"),
        ("torch-2.13.0+cu130.dist-info\\METADATA", "/s/3", "DATA"),
        ("numpy-2.4.6.dist-info/LICENSE.txt", "/s/4", "DATA"),
        ("numpy-2.4.6.dist-info/entry_points.txt", "/s/5", "DATA"),
        ("torch/lib/libtorch_cpu.so", "/s/6", "BINARY"),
        ("certifi/LICENSE", "/s/7", "DATA"),  # not package metadata: stays
        ("LICENSES.txt", "/s/8", "DATA"),
    ]

    kept = checks.without_licences(toc)

    assert [source for _, source, _ in kept] == ["/s/3", "/s/5", "/s/6", "/s/7", "/s/8"]
