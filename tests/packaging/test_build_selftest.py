"""packaging/build.py's own steps, run on stand-ins for the app: the self-test's deadline holds while the
app's output is read (and the app is killed), a flaky command is retried, the pinned torch is enforced."""

from __future__ import annotations

import json
import os
import stat
import sys
from pathlib import Path

import pytest

from tests.helpers.packaging_scripts import load_packaging

build = load_packaging("build", "bundle_build")


def fake_app(tmp_path: Path, body: str) -> Path:
    """An executable that stands in for the bundle: it notes its process id, then runs ``body``."""
    exe = tmp_path / "fake-app"
    pid_file = tmp_path / "pid"
    exe.write_text(
        f"#!{sys.executable}\n"
        "import os, sys, time\n"
        f"open({str(pid_file)!r}, 'w').write(str(os.getpid()))\n" + body,
        encoding="utf-8",
    )
    exe.chmod(exe.stat().st_mode | stat.S_IXUSR)
    return exe


def assert_gone(tmp_path: Path) -> None:
    pid = int((tmp_path / "pid").read_text())
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


REPORT = json.dumps({"ok": True, "seconds": 1.5})


@pytest.mark.skipif(sys.platform == "win32", reason="the stand-in app is a script with a #! line")
def test_an_app_that_prints_nothing_and_hangs_is_killed(tmp_path: Path) -> None:
    # A windowed build showing an exception dialog: no output, no exit.
    exe = fake_app(tmp_path, "time.sleep(600)\n")

    with pytest.raises(SystemExit, match=r"within 2 s \(without printing its result\); it was killed"):
        build.self_test(exe, timeout_s=2)
    assert_gone(tmp_path)


@pytest.mark.skipif(sys.platform == "win32", reason="the stand-in app is a script with a #! line")
def test_an_app_that_prints_its_result_and_hangs_is_killed(tmp_path: Path) -> None:
    # ... and leaves half a line, so a line-by-line reader waits for the rest.
    body = f"print({REPORT!r}, flush=True)\nsys.stdout.write('half'); sys.stdout.flush()\ntime.sleep(600)\n"
    exe = fake_app(tmp_path, body)

    with pytest.raises(SystemExit, match=r"did not finish within 2 s \(after printing \{"):
        build.self_test(exe, timeout_s=2)
    assert_gone(tmp_path)


@pytest.mark.skipif(sys.platform == "win32", reason="the stand-in app is a script with a #! line")
def test_an_app_that_reports_and_exits_passes(tmp_path: Path) -> None:
    exe = fake_app(tmp_path, f"print('starting')\nprint({REPORT!r})\nsys.exit(0)\n")

    report, seconds = build.self_test(exe, timeout_s=60)

    assert report == {"ok": True, "seconds": 1.5}
    assert seconds > 0


@pytest.mark.skipif(sys.platform == "win32", reason="the stand-in app is a script with a #! line")
def test_an_app_that_reports_a_failure_fails_the_build(tmp_path: Path) -> None:
    failed = json.dumps({"ok": False, "reason": "no CUDA device"})
    exe = fake_app(tmp_path, f"print({failed!r})\nsys.exit(1)\n")

    with pytest.raises(SystemExit, match=r"the self-test failed \(exit status 1\): no CUDA device"):
        build.self_test(exe, timeout_s=60)


def test_a_flaky_command_is_retried_until_it_succeeds(tmp_path: Path) -> None:
    # Fails twice ("Resource busy"), then works.
    counter = tmp_path / "attempts"
    script = (
        "import pathlib, sys\n"
        f"p = pathlib.Path({str(counter)!r})\n"
        "n = int(p.read_text()) + 1 if p.exists() else 1\n"
        "p.write_text(str(n))\n"
        "sys.exit(0 if n >= 3 else 1)\n"
    )
    pauses: list[float] = []

    build.run_with_retries([sys.executable, "-c", script], attempts=5, pause_s=7, sleep=pauses.append)

    assert counter.read_text() == "3"
    assert pauses == [7, 7]


def test_a_command_that_keeps_failing_stops_the_build(tmp_path: Path) -> None:
    pauses: list[float] = []
    with pytest.raises(SystemExit, match="failed 3 times"):
        build.run_with_retries([sys.executable, "-c", "raise SystemExit(1)"], attempts=3, sleep=pauses.append)
    assert len(pauses) == 2


def test_the_pinned_torch_and_its_variant_are_enforced(monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    installed = torch.__version__.split("+")[0]
    monkeypatch.setattr(build, "TORCH_VERSION", installed)
    right, wrong = ("cuda", "cpu") if torch.version.cuda else ("cpu", "cuda")
    assert installed in build.check_torch(right)
    with pytest.raises(SystemExit, match=f"does not fit the {wrong} variant"):
        build.check_torch(wrong)

    monkeypatch.setattr(build, "TORCH_VERSION", "1.0.0")
    with pytest.raises(SystemExit, match=r"is not the pinned torch 1\.0\.0"):
        build.check_torch(right)
