"""The demo previewer's published file, written once for the previewer tests."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from tests.helpers.demo_previewer import write_demo_pt


@pytest.fixture(scope="session")
def pt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A demo previewer in the published layout; tests read it, never change it."""
    return write_demo_pt(tmp_path_factory.mktemp("previewer"))


@pytest.fixture(scope="session")
def state(pt: Path) -> dict[str, torch.Tensor]:
    """The weights of ``pt``; tests change copies only."""
    return dict(torch.load(pt, map_location="cpu", weights_only=True)["state_dict"])
