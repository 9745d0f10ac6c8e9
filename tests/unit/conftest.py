"""The demo previewer's published file, written once for the previewer tests; an empty loopback Hub for the
files tests serve on it themselves."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from tests.helpers.demo_previewer import write_demo_pt
from tests.helpers.encoder import write_encoder_weights


@pytest.fixture(scope="session")
def pt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A demo previewer in the published layout; tests read it, never change it."""
    return write_demo_pt(tmp_path_factory.mktemp("previewer"))


@pytest.fixture(scope="session")
def state(pt: Path) -> dict[str, torch.Tensor]:
    """The weights of ``pt``; tests change copies only."""
    return dict(torch.load(pt, map_location="cpu", weights_only=True)["state_dict"])


@pytest.fixture
def empty_hub(monkeypatch: pytest.MonkeyPatch):
    """A Hub on 127.0.0.1 serving nothing until a test adds a file (``checkpoint_hub.serve_file``); online,
    without a token, and the endpoint huggingface_hub uses."""
    from huggingface_hub import constants

    from tests.helpers.hub_server import HubServer

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.setenv("HF_HUB_DISABLE_IMPLICIT_TOKEN", "1")
    with HubServer() as server:
        monkeypatch.setattr(constants, "ENDPOINT", server.url)
        yield server


@pytest.fixture
def encoder_weights(encoder_dir: Path) -> Path:
    """Random image-encoder weights where a finished fetch leaves them, in the test's own data folder."""
    return write_encoder_weights(encoder_dir)
