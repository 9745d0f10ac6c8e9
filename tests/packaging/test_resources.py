"""The files the bundles are made of: icons in every size, the .desktop entry, resource lookup."""

from __future__ import annotations

import configparser
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
