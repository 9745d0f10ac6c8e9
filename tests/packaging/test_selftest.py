"""``--self-test`` run from source in a real subprocess: the real window (offscreen), the real worker
thread, tiny checkpoints, an image with its parameters read back."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import wuerstchen_desktop
from wuerstchen_desktop.core.imagefile.read import read_parameters

ROOT = Path(__file__).resolve().parents[2]


def headless_env(tmp_path: Path) -> dict[str, str]:
    """No display and no platform hint (the self-test must choose offscreen itself); every per-user
    folder in tmp_path, so the log can be read and nothing lands in the real home."""
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    for var in ("XDG_STATE_HOME", "XDG_DATA_HOME", "XDG_CONFIG_HOME", "XDG_CACHE_HOME"):
        env[var] = str(tmp_path / var.lower())
    env["TMPDIR"] = str(tmp_path / "tmp")
    (tmp_path / "tmp").mkdir()
    env["PYTHONPATH"] = str(ROOT)
    return env


def self_test(tmp_path: Path, *extra: str, **kwargs) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "wuerstchen_desktop", "--self-test", *extra],
        env=headless_env(tmp_path),
        cwd=tmp_path,
        text=True,
        timeout=120,
        **kwargs,
    )


def log_file(tmp_path: Path) -> Path:
    return tmp_path / "xdg_state_home" / "Wuerstchen Desktop" / "log" / "wuerstchen-desktop.log"


@pytest.mark.skipif(sys.platform != "linux", reason="the XDG folders steer platformdirs on Linux only")
def test_self_test_makes_an_image_and_reads_its_parameters_back(tmp_path: Path) -> None:
    import torch

    proc = self_test(tmp_path, capture_output=True)

    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert len(lines) == 1, proc.stdout  # stdout carries the JSON line and nothing else
    report = json.loads(lines[0])
    assert report["ok"] is True
    assert report["version"] == wuerstchen_desktop.__version__
    assert report["frozen"] is False
    assert report["torch"] == torch.__version__
    assert report["qt_platform"] == "offscreen"
    assert report["python"] and report["platform"]
    assert 0 < report["generation_seconds"] <= report["seconds"]
    # Compose first, decode later, and the live-preview model's conversion work in this build too.
    assert report["compose_seconds"] > 0 and report["decode_seconds"] > 0
    assert report["previewer"] == "ok"

    image = Path(report["image"])
    assert image.is_file() and image.is_relative_to(tmp_path / "tmp")
    assert not any((tmp_path / "tmp").glob("*/scaffold"))  # checkpoints and history index are gone
    assert not (tmp_path / "xdg_data_home").exists()  # nothing in the user's history
    # Read back here too, independently of what the self-test says it read.
    read = read_parameters(image)
    assert read.record is not None
    assert (read.prompt, read.seed, read.width, read.height) == ("a photo of a red horse", 7, 256, 256)
    assert report["params"]["prompt"] == read.prompt
    assert report["params"]["wuerstchen"]["params"] == read.record.params.to_dict()

    assert report["log"] == str(log_file(tmp_path))
    assert "self-test: {" in log_file(tmp_path).read_text(encoding="utf-8")


@pytest.mark.skipif(sys.platform != "linux", reason="closing the standard streams is a POSIX test")
def test_self_test_survives_without_standard_streams(tmp_path: Path) -> None:
    """A windowed bundle has no console: sys.stdout and sys.stderr are None. The result still reaches
    the log file."""
    proc = self_test(tmp_path, stdin=subprocess.DEVNULL, preexec_fn=lambda: (os.close(1), os.close(2)))

    assert proc.returncode == 0
    lines = [
        line for line in log_file(tmp_path).read_text(encoding="utf-8").splitlines() if "self-test: " in line
    ]
    assert len(lines) == 1
    assert json.loads(lines[0].split("self-test: ", 1)[1])["ok"] is True


def test_self_test_reports_a_failure_with_its_reason(tmp_path: Path) -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA, so asking for it does not fail")
    proc = self_test(tmp_path, "--device", "cuda", capture_output=True)

    assert proc.returncode == 1, proc.stdout + proc.stderr
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report["ok"] is False
    assert "cuda" in report["reason"].lower()
    assert "image" not in report


@pytest.mark.skipif(sys.platform != "linux", reason="closing the standard streams is a POSIX test")
def test_missing_standard_streams_are_replaced(tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    code = (
        "import sys\n"
        "from wuerstchen_desktop.runtime import ensure_std_streams\n"
        "assert sys.stdout is None and sys.stderr is None\n"
        "ensure_std_streams()\n"
        "sys.stdout.write('lost'); sys.stderr.write('lost'); sys.stderr.isatty()\n"
        f"open({str(marker)!r}, 'w').write('ok')\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code],
        env=headless_env(tmp_path),
        stdin=subprocess.DEVNULL,
        preexec_fn=lambda: (os.close(1), os.close(2)),
        timeout=60,
    )
    assert proc.returncode == 0
    assert marker.read_text() == "ok"
