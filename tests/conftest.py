"""Shared fixtures: tiny checkpoints written in the exact Hub layout, once per test session."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# Tests never reach the Hub: anything not on disk must fail fast, not wait on the network.
os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture(autouse=True)
def previewer_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Converted previewers go to the test's own folder, never the user's data folder."""
    from wuerstchen_desktop.core import appdirs

    folder = tmp_path / "previewer-data"
    monkeypatch.setattr(appdirs, "previewer_dir", lambda: folder)
    return folder


@pytest.fixture(autouse=True)
def encoder_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The image encoder's weights are looked for in the test's own folder, never the user's."""
    from wuerstchen_desktop.core import appdirs

    folder = tmp_path / "encoder-data"
    monkeypatch.setattr(appdirs, "encoder_dir", lambda: folder)
    return folder


@pytest.fixture(autouse=True)
def pictures_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Pasted pictures are kept in the test's own folder, never the user's."""
    from wuerstchen_desktop.core import appdirs

    folder = tmp_path / "pictures-data"
    monkeypatch.setattr(appdirs, "pictures_dir", lambda: folder)
    return folder


@pytest.fixture(autouse=True)
def wildcards_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Wildcard lists are read from the test's own folder, never the user's."""
    from wuerstchen_desktop.core import appdirs

    folder = tmp_path / "wildcards"
    monkeypatch.setattr(appdirs, "wildcards_dir", lambda: folder)
    return folder


@pytest.fixture(scope="session")
def tiny_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from wuerstchen_desktop.testing import checkpoints

    root = tmp_path_factory.mktemp("checkpoints")
    checkpoints.write_prior_repo(root / "wuerstchen-prior")
    checkpoints.write_decoder_repo(root / "wuerstchen")
    checkpoints.write_prior_model(root / "wuerstchen-prior-model-finetuned", seed=5)
    checkpoints.write_previewer_space(root / "wuerstchen-space")
    return root


@pytest.fixture(scope="session")
def prior_dir(tiny_root: Path) -> Path:
    return tiny_root / "wuerstchen-prior"


@pytest.fixture(scope="session")
def decoder_dir(tiny_root: Path) -> Path:
    return tiny_root / "wuerstchen"


@pytest.fixture
def repo_copy(tiny_root: Path, tmp_path: Path):
    """A writable copy of one tiny repository, for tests that damage it."""

    def copy(name: str) -> Path:
        dst = tmp_path / name
        shutil.copytree(tiny_root / name, dst)
        return dst

    return copy


@pytest.fixture
def hub(tiny_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A Hub on 127.0.0.1 serving the tiny checkpoints and the demo Space with a tiny previewer;
    huggingface_hub points at it, the cache is empty."""
    from tests.helpers.hub_server import tiny_hub

    with tiny_hub(tiny_root, tmp_path / "hf-cache", monkeypatch) as server:
        yield server


@pytest.fixture(scope="session")
def pipeline(prior_dir: Path, decoder_dir: Path):
    from wuerstchen_desktop.core.engine.checkpoints import decoder_source, prior_source
    from wuerstchen_desktop.core.engine.pipeline import Pipeline

    return Pipeline(prior_source(str(prior_dir)), decoder_source(str(decoder_dir)))
