"""Reading the previewer's pickle: training state beside the weights, files that would run code, damaged
files and wrong tensors, all refused with a sentence and nothing in them run."""

from __future__ import annotations

import argparse
import logging
import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors import safe_open

from tests.helpers.pickles import Trap
from wuerstchen_desktop.core.engine.live_preview import convert_previewer
from wuerstchen_desktop.core.errors import CheckpointError, WuerstchenError


def test_training_state_weights_only_refuses_is_skipped_not_run(
    state: dict[str, torch.Tensor],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A run's record beside the weights that ``weights_only`` alone refuses (a numpy metric, the run's
    arguments): the weights still convert, and those objects are never built."""
    layout = {
        "state_dict": state,
        "metrics": {"ema_loss": np.float64(0.05), "history": np.zeros(3)},
        "args": argparse.Namespace(lr=1e-4, out=Path("models")),
    }
    path = tmp_path / "with-numpy.pt"
    torch.save(layout, path)
    with pytest.raises(pickle.UnpicklingError):
        torch.load(path, weights_only=True)
    built: list[object] = []  # a Namespace that is really unpickled gets its state set
    monkeypatch.setattr(argparse.Namespace, "__setstate__", built.append, raising=False)
    with caplog.at_level(logging.INFO):
        dst = convert_previewer(path, tmp_path / "x.safetensors")
    assert "argparse.Namespace" in caplog.text and "scalar" in caplog.text
    with safe_open(str(dst), framework="pt") as f:
        assert set(f.keys()) == set(state)
    assert built == []
    torch.load(path, weights_only=False)  # the spy is real: an ordinary load builds it
    assert built

    # Those types inside the state dict are not weights: refused.
    torch.save({"state_dict": {**state, "blocks.0.weight": np.zeros(3)}}, tmp_path / "bad.pt")
    with pytest.raises(CheckpointError, match=r"'blocks\.0\.weight', which is not a named tensor"):
        convert_previewer(tmp_path / "bad.pt", tmp_path / "y.safetensors")
    assert not (tmp_path / "y.safetensors").exists()


def test_too_little_room_for_the_conversion_fake_disk_usage(
    pt: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dst = tmp_path / "new" / "previewer.safetensors"
    real = shutil.disk_usage
    monkeypatch.setattr(shutil, "disk_usage", lambda p: real(p)._replace(free=1000))
    with pytest.raises(CheckpointError, match="Not enough disk space to set up the live preview") as info:
        convert_previewer(pt, dst)
    assert str(dst.parent) in info.value.message and "approximate" in info.value.hint
    assert not dst.exists()
    monkeypatch.setattr(shutil, "disk_usage", real)
    assert convert_previewer(pt, dst) == dst


def test_a_pickle_that_would_run_code_is_refused_and_nothing_runs(
    state: dict[str, torch.Tensor], tmp_path: Path
) -> None:
    # The trap is real: an ordinary unpickler runs it.
    proof = tmp_path / "proof"
    pickle.loads(pickle.dumps(Trap(proof)))
    assert proof.read_text(encoding="utf-8") == "code ran"

    marker = tmp_path / "marker"
    hostile = tmp_path / "hostile.pt"
    # Beside the weights and a record that is merely skipped (a numpy metric), the trap is not skipped.
    torch.save({"state_dict": state, "metrics": {"loss": np.float64(0.1)}, "extra": Trap(marker)}, hostile)
    dst = tmp_path / "out" / "previewer.safetensors"
    with pytest.raises(CheckpointError, match="could run code when loaded; it was refused") as info:
        convert_previewer(hostile, dst)
    assert "tests.helpers.pickles._make_marker" in info.value.message and "numpy" not in info.value.message
    assert "download it again" in info.value.hint and str(hostile) in info.value.hint
    assert not marker.exists() and not dst.exists()

    # A plain pickle (not torch's zip format) holding only the trap: the same, in any pickle protocol.
    for protocol in (2, pickle.HIGHEST_PROTOCOL):
        plain = tmp_path / f"plain-{protocol}.pt"
        plain.write_bytes(pickle.dumps(Trap(marker), protocol=protocol))
        with pytest.raises(CheckpointError, match="refused"):
            convert_previewer(plain, dst)
        assert not marker.exists() and not dst.exists()


@pytest.mark.parametrize("keep", [0.5, 0.01, 0.0])
def test_a_truncated_file_is_refused_with_a_clear_message(pt: Path, tmp_path: Path, keep: float) -> None:
    data = pt.read_bytes()
    cut = tmp_path / "cut.pt"
    cut.write_bytes(data[: int(len(data) * keep)])
    with pytest.raises(CheckpointError, match=r"cut\.pt is damaged or incomplete") as info:
        convert_previewer(cut, tmp_path / "x.safetensors")
    assert "download it again" in info.value.hint
    assert not (tmp_path / "x.safetensors").exists()


def test_not_a_checkpoint_at_all(tmp_path: Path) -> None:
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"hello world" * 100)
    with pytest.raises(WuerstchenError, match=r"junk\.pt is damaged"):
        convert_previewer(junk, tmp_path / "x.safetensors")
    torch.save({"state_dict": [1, 2, 3]}, tmp_path / "list.pt")
    with pytest.raises(CheckpointError, match="holds no state dict"):
        convert_previewer(tmp_path / "list.pt", tmp_path / "x.safetensors")
    torch.save({"blocks.0.weight": 3}, tmp_path / "int.pt")
    with pytest.raises(CheckpointError, match=r"'blocks\.0\.weight', which is not a named tensor"):
        convert_previewer(tmp_path / "int.pt", tmp_path / "x.safetensors")
    with pytest.raises(CheckpointError, match="Missing previewer file"):
        convert_previewer(tmp_path / "absent.pt", tmp_path / "x.safetensors")


def _set(key: str, *shape: int):
    return lambda s: s.update({key: torch.zeros(*shape)})


def _drop(key: str):
    return lambda s: s.pop(key)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (_set("blocks.3.weight", 32, 32, 1, 1), r"'blocks\.3\.weight' has shape \(32, 32, 1, 1\)"),
        (_set("blocks.18.weight", 4, 8, 1, 1), r"'blocks\.18\.weight' has shape"),
        (_set("blocks.8.running_mean", 17), r"'blocks\.8\.running_mean' has shape"),
        (_drop("blocks.18.bias"), r"missing the tensors blocks\.18\.bias"),
        (_drop("blocks.5.running_var"), r"missing the tensors blocks\.5\.running_var"),
        (_set("blocks.20.running_var", 8), r"'blocks\.20\.running_var', which the previewer"),
        (_set("module.blocks.0.weight", 3), r"'module\.blocks\.0\.weight'"),
        (_drop("blocks.0.weight"), r"has no tensor 'blocks\.0\.weight'"),
        (_set("blocks.0.weight", 30, 16, 1, 1), r"'blocks\.0\.weight' has shape"),
        (_set("blocks.0.weight", 32, 4, 1, 1), r"'blocks\.0\.weight' has shape"),
    ],
)
def test_wrong_tensors_are_named(state, tmp_path: Path, change, message: str) -> None:
    broken = dict(state)
    change(broken)
    torch.save({"state_dict": broken}, tmp_path / "broken.pt")
    with pytest.raises(CheckpointError, match=message):
        convert_previewer(tmp_path / "broken.pt", tmp_path / "x.safetensors")
    assert not (tmp_path / "x.safetensors").exists()
