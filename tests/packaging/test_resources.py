"""The files the bundles are made of: icons in every size, the .desktop entry, resource lookup."""

from __future__ import annotations

import configparser
import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from wuerstchen_desktop import runtime

ROOT = Path(__file__).resolve().parents[2]
ICONS = ROOT / "resources" / "icons"


def test_icons_in_every_size() -> None:
    for size in (16, 32, 48, 256, 512, 1024):
        with Image.open(ICONS / f"wuerstchen-desktop-{size}.png") as im:
            assert im.size == (size, size) and im.mode == "RGBA"
    with Image.open(ICONS / "wuerstchen-desktop.ico") as ico:
        assert {(16, 16), (32, 32), (48, 48), (256, 256)} <= set(ico.info["sizes"])
    with Image.open(ICONS / "wuerstchen-desktop.icns") as icns:
        # (512, 512, 2) is the 1024 px image that Retina displays use.
        assert {(32, 32, 2), (128, 128, 1), (256, 256, 1), (512, 512, 2)} <= set(icns.info["sizes"])


def test_resources_from_source_and_from_a_bundle(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    assert runtime.app_icon() == ICONS / "wuerstchen-desktop.png"
    assert runtime.app_icon().is_file()
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setattr(sys, "_MEIPASS", str(tmp_path), raising=False)
    assert runtime.is_frozen()
    assert runtime.app_icon() == tmp_path / "resources" / "icons" / "wuerstchen-desktop.png"


def test_spec_ships_the_icon_where_the_app_looks() -> None:
    spec = (ROOT / "packaging" / "wuerstchen-desktop.spec").read_text(encoding="utf-8")
    shipped = runtime.app_icon().relative_to(runtime.SOURCE_ROOT)
    assert f'(str(ICONS / "{shipped.name}"), "{shipped.parent.as_posix()}")' in spec


def test_desktop_entry() -> None:
    entry = configparser.ConfigParser(interpolation=None)
    entry.optionxform = str  # type: ignore[assignment,method-assign]
    entry.read(ROOT / "resources" / "wuerstchen-desktop.desktop", encoding="utf-8")
    section = entry["Desktop Entry"]
    assert section["Type"] == "Application"
    assert section["Exec"] == "wuerstchen-desktop"
    assert section["Icon"] == "wuerstchen-desktop"
    assert section["Terminal"] == "false"
    assert section["Categories"].endswith(";")


# Reports and leaves at once: the window is shown, which is all this needs.
APP_CHILD = r"""
import os, sys
from PySide6.QtCore import QTimer
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QApplication
from wuerstchen_desktop import app
real_exec = QApplication.exec
def exec_and_report(self=None):
    def report():
        print("desktop-file-name:", QGuiApplication.desktopFileName(), flush=True)
        os._exit(0)
    QTimer.singleShot(0, report)
    return real_exec()
QApplication.exec = exec_and_report
sys.exit(app.main(sys.argv[1:]))
"""


@pytest.mark.skipif(sys.platform != "linux", reason="the XDG folders steer platformdirs on Linux only")
def test_the_app_names_its_desktop_entry(tmp_path: Path) -> None:
    """Wayland docks show the window's icon through the .desktop entry the app names."""
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    env.update({var: str(tmp_path / var.lower()) for var in ("XDG_STATE_HOME", "XDG_DATA_HOME",
                "XDG_CONFIG_HOME", "XDG_CACHE_HOME")})  # fmt: skip
    env.update(QT_QPA_PLATFORM="offscreen", PYTHONPATH=str(ROOT))

    proc = subprocess.run(
        [sys.executable, "-c", APP_CHILD, "--prior", "/nonexistent", "--decoder", "/nonexistent"],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )  # fmt: skip

    assert proc.returncode == 0, proc.stderr
    named = [
        line.split(": ", 1)[1] for line in proc.stdout.splitlines() if line.startswith("desktop-file-name:")
    ]
    assert named == ["wuerstchen-desktop"]
    # The entry the bundle ships, and the name the Linux bundle's script installs it under.
    assert (ROOT / "resources" / f"{named[0]}.desktop").is_file()
    installer = (ROOT / "packaging" / "linux" / "install-desktop-entry.sh").read_text(encoding="utf-8")
    assert f'> "$apps/{named[0]}.desktop"' in installer
