"""Build the bundle for this platform, archive it, self-test it, and report the figures.

    python packaging/build.py [--variant cpu|cuda] [--skip-build] [--no-self-test]

Run it from the environment that should be frozen (the platform scripts make a fresh one). Writes
``dist/<bundle>`` and ``dist/<archive>`` (a .tar.gz on Linux, a .zip on Windows, a .dmg on macOS) and
prints one JSON line with the results last; exits non-zero if the build or the self-test fails.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import queue
import re
import shutil
import subprocess
import sys
import sysconfig
import tarfile
import threading
import time
import zipfile
from collections.abc import Callable, Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bundle_checks as checks
from bundle_info import APP_NAME, BUNDLE_NAME, EXE_NAME, ROOT, TORCH_VERSION, version

SPEC = ROOT / "packaging" / "wuerstchen-desktop.spec"
DIST = ROOT / "dist"
WORK = ROOT / "build" / "pyinstaller"
SELF_TEST_TIMEOUT_S = 600
# The folder inside the archive: short, since Explorer unzips into a folder named after the archive too.
TOP = EXE_NAME


def platform_tag() -> str:
    system = {"win32": "windows", "darwin": "macos"}.get(sys.platform, "linux")
    machine = platform.machine().lower()
    machine = {"amd64": "x86_64", "aarch64": "arm64"}.get(machine, machine)
    return f"{system}-{machine}"


def bundle_path() -> Path:
    if sys.platform == "darwin":
        return DIST / f"{BUNDLE_NAME}.app"
    return DIST / EXE_NAME


def executable(bundle: Path) -> Path:
    if sys.platform == "darwin":
        return bundle / "Contents" / "MacOS" / EXE_NAME
    return bundle / (f"{EXE_NAME}.exe" if sys.platform == "win32" else EXE_NAME)


def folder_size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file() and not p.is_symlink())


def check_torch(variant: str) -> str:
    """The pinned torch, with CUDA exactly when the variant says so: a wrong wheel fails here, not later."""
    import torch

    found = f"torch {torch.__version__} (CUDA {torch.version.cuda})"
    print(f"bundling {found}", flush=True)
    if torch.__version__.split("+")[0] != TORCH_VERSION:
        raise SystemExit(f"{found} is not the pinned torch {TORCH_VERSION} (packaging/bundle_info.py)")
    if (variant == "cuda") != (torch.version.cuda is not None):
        raise SystemExit(f"{found} does not fit the {variant} variant: install torch from the right index")
    return found


def build() -> float:
    started = time.monotonic()
    env = dict(os.environ)
    # PyInstaller only logs a failed ad-hoc signature by default; an unsigned arm64 app does not start.
    env["PYINSTALLER_STRICT_BUNDLE_CODESIGN_ERROR"] = "1"
    subprocess.run(
        [sys.executable, "-m", "PyInstaller", "--noconfirm", "--clean", "--log-level", "WARN",
         "--distpath", str(DIST), "--workpath", str(WORK), str(SPEC)],
        check=True, env=env,
    )  # fmt: skip
    return time.monotonic() - started


def contents_dir(bundle: Path) -> Path:
    return bundle / "Contents" / "Frameworks" if sys.platform == "darwin" else bundle / "_internal"


def check_nvidia_libraries(bundle: Path) -> int:
    site_packages = Path(sysconfig.get_paths()["purelib"])
    missing = checks.missing_nvidia_libraries(site_packages, contents_dir(bundle))
    if missing:
        raise SystemExit(f"{len(missing)} CUDA libraries are missing from the bundle: {', '.join(missing)}")
    return len(checks.nvidia_libraries(site_packages))


def run_with_retries(
    command: Sequence[str],
    attempts: int = 5,
    pause_s: float = 15.0,
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """Run a command that fails now and then for reasons outside it (hdiutil's "Resource busy" on
    GitHub's macOS runners, actions/runner-images#7522), pausing between attempts."""
    for attempt in range(1, attempts + 1):
        if subprocess.run(list(command)).returncode == 0:
            return
        if attempt < attempts:
            print(
                f"{command[0]} failed (attempt {attempt} of {attempts}); trying again in {pause_s:g} s",
                flush=True,
            )
            sleep(pause_s)
    raise SystemExit(f"{command[0]} failed {attempts} times: {' '.join(command)}")


def archive(bundle: Path, name: str) -> Path:
    if sys.platform == "darwin":
        return make_dmg(bundle, DIST / f"{name}.dmg")
    if sys.platform == "win32":
        out = DIST / f"{name}.zip"
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=6) as z:
            for path in sorted(bundle.rglob("*")):
                z.write(path, Path(TOP) / path.relative_to(bundle))
        return out
    # Linux: the bundle plus a .desktop entry, its icon and a script that installs both for this user.
    top = Path(TOP)
    shutil.copy2(ROOT / "resources" / "icons" / f"{EXE_NAME}-256.png", bundle / f"{EXE_NAME}.png")
    shutil.copy2(ROOT / "resources" / f"{EXE_NAME}.desktop", bundle / f"{EXE_NAME}.desktop")
    installer = "install-desktop-entry.sh"
    shutil.copy2(ROOT / "packaging" / "linux" / installer, bundle / installer)
    out = DIST / f"{name}.tar.gz"
    with tarfile.open(out, "w:gz", compresslevel=6) as tar:
        tar.add(bundle, arcname=str(top))
    return out


def make_dmg(app: Path, out: Path) -> Path:
    """A compressed disk image holding the app and a link to /Applications to drag it onto."""
    staging = DIST / "dmg"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    subprocess.run(["ditto", str(app), str(staging / app.name)], check=True)  # keeps signatures and links
    (staging / "Applications").symlink_to("/Applications")
    out.unlink(missing_ok=True)
    run_with_retries(
        ["hdiutil", "create", "-volname", APP_NAME, "-srcfolder", str(staging), "-ov", "-format", "UDZO",
         str(out)]
    )  # fmt: skip
    shutil.rmtree(staging)
    return out


def _line_from_log(since: float) -> str:
    """The self-test's line from the app's log, for a windowed executable whose output was lost."""
    from wuerstchen_desktop.core.appdirs import log_file

    log = log_file()
    if not log.is_file() or log.stat().st_mtime < since:
        return ""
    lines = log.read_text("utf-8").splitlines()
    found = [line.split("self-test: ", 1)[1] for line in lines if "self-test: {" in line]
    return found[-1].strip() if found else ""


def check_macos_minimum(app: Path) -> None:
    """Every binary in the app must run on the macOS that Info.plist promises."""
    from bundle_info import MACOS_MINIMUM

    def key(v: str) -> tuple[int, ...]:
        return tuple(int(p) for p in v.split("."))

    newest: tuple[str, str] = ("0.0", "")
    for path in app.rglob("*"):
        binary = path.suffix in (".so", ".dylib") or os.access(path, os.X_OK)
        if path.is_symlink() or not path.is_file() or not binary:
            continue
        out = subprocess.run(["otool", "-l", str(path)], capture_output=True, text=True).stdout
        # LC_BUILD_VERSION says "minos X"; older binaries carry LC_VERSION_MIN_MACOSX with "version X".
        found_all = re.findall(r"^\s*minos (\d+(?:\.\d+)*)$", out, re.MULTILINE)
        found_all += re.findall(r"cmd LC_VERSION_MIN_MACOSX\s+cmdsize \d+\s+version (\d+(?:\.\d+)*)", out)
        for found in found_all:
            if key(found) > key(newest[0]):
                newest = (found, str(path.relative_to(app)))
    print(f"newest macOS required by a binary: {newest[0]} ({newest[1]})", flush=True)
    if key(newest[0]) > key(MACOS_MINIMUM):
        raise SystemExit(
            f"{newest[1]} needs macOS {newest[0]}, but LSMinimumSystemVersion is {MACOS_MINIMUM}: "
            "raise MACOS_MINIMUM in packaging/bundle_info.py"
        )


def read_self_test(command: Sequence[str], env: dict[str, str], timeout_s: float) -> tuple[str, float, int]:
    """Run the app's self-test; the JSON line it printed (or ""), the seconds to it, and the exit status.
    The deadline holds while reading too: a windowed app that shows a dialog instead of exiting, or
    stops printing, is killed when it runs out, never waited on."""
    started = time.monotonic()
    deadline = started + timeout_s
    proc = subprocess.Popen(list(command), stdout=subprocess.PIPE, env=env, text=True, encoding="utf-8")
    lines: queue.Queue[str | None] = queue.Queue()

    def pump() -> None:
        assert proc.stdout is not None
        for raw in proc.stdout:
            lines.put(raw)
        lines.put(None)

    threading.Thread(target=pump, daemon=True).start()  # daemon: a child may hold the pipe open
    line, seconds = "", 0.0
    try:
        while (raw := lines.get(timeout=max(deadline - time.monotonic(), 0))) is not None:
            if raw.startswith("{"):
                line, seconds = raw.strip(), time.monotonic() - started
        status = proc.wait(timeout=max(deadline - time.monotonic(), 0))
    except (queue.Empty, subprocess.TimeoutExpired):
        proc.kill()
        proc.wait()
        said = f"after printing {line}" if line else "without printing its result"
        raise SystemExit(
            f"the self-test did not finish within {timeout_s:g} s ({said}); it was killed"
        ) from None
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return line, seconds, status


def self_test(exe: Path, timeout_s: float = SELF_TEST_TIMEOUT_S) -> tuple[dict[str, object], float]:
    """Run the bundle's self-test; its report and the seconds from launch to the JSON line."""
    env = dict(os.environ)
    if sys.platform.startswith("linux"):
        # Headless on purpose: the bundle must choose the offscreen platform by itself.
        env.pop("DISPLAY", None)
        env.pop("WAYLAND_DISPLAY", None)
        env.pop("QT_QPA_PLATFORM", None)
    started, started_wall = time.monotonic(), time.time()
    line, seconds, status = read_self_test([str(exe), "--self-test"], env, timeout_s)
    if not line:
        line, seconds = _line_from_log(started_wall), time.monotonic() - started
    if not line:
        raise SystemExit(f"the self-test printed no JSON line (exit status {status})")
    print(line, flush=True)
    report = json.loads(line)
    if status != 0 or not report.get("ok"):
        raise SystemExit(f"the self-test failed (exit status {status}): {report.get('reason')}")
    return report, seconds


def verify_signature(app: Path) -> None:
    """The ad-hoc signature must hold before the app goes into the disk image (Apple Silicon refuses to
    start unsigned code)."""
    subprocess.run(["codesign", "--verify", "--deep", "--strict", "--verbose=2", str(app)], check=True)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--variant", default="cpu", help="a label for the archive name: cpu or cuda")
    parser.add_argument("--skip-build", action="store_true", help="archive and test an existing build")
    parser.add_argument("--no-self-test", action="store_true")
    args = parser.parse_args()

    results: dict[str, object] = {"torch": check_torch(args.variant)}
    build_seconds = None if args.skip_build else build()
    bundle = bundle_path()
    exe = executable(bundle)
    if not exe.is_file():
        raise SystemExit(f"no executable at {exe}")
    if sys.platform == "darwin":
        check_macos_minimum(bundle)
        verify_signature(bundle)
    results["nvidia_libraries"] = check_nvidia_libraries(bundle)
    results["bundle"] = str(bundle)
    results["bundle_mb"] = round(folder_size(bundle) / 2**20, 1)
    results["build_seconds"] = None if build_seconds is None else round(build_seconds, 1)
    if not args.no_self_test:
        report, seconds = self_test(exe)
        results["start_to_result_seconds"] = round(seconds, 2)
        results["self_test_seconds"] = report.get("seconds")
    name = f"{BUNDLE_NAME.replace(' ', '-')}-{version()}-{platform_tag()}-{args.variant}"
    out = archive(bundle, name)
    # Checked on every platform's bundle: the Windows zip is the one that meets the limit, the others share
    # its names.
    results["longest_windows_path"] = checks.check_windows_paths(bundle, TOP, name)
    results["archive_mb"] = round(out.stat().st_size / 2**20, 1)
    results["archive"] = [str(p) for p in checks.split_file(out)]
    print(json.dumps(results), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
