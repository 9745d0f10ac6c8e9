"""Loading: strict keys, dtype conversion, meta-device build, and clear refusals of bad files."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import pytest
import torch

from wuerstchen_desktop.core.engine.loading import load_stage
from wuerstchen_desktop.core.errors import CheckpointError
from wuerstchen_desktop.core.models import StageA, StageAConfig, StageB, StageBConfig, StageC, StageCConfig


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16])
def test_stages_load_in_requested_dtype(prior_dir: Path, decoder_dir: Path, dtype: torch.dtype) -> None:
    for cls, cfg, folder in [
        (StageC, StageCConfig, prior_dir / "prior"),
        (StageB, StageBConfig, decoder_dir / "decoder"),
        (StageA, StageAConfig, decoder_dir / "vqgan"),
    ]:
        model = load_stage(cls, cfg, folder, dtype)
        tensors = list(model.state_dict().values())
        assert all(not t.is_meta for t in tensors)
        assert {t.dtype for t in tensors if t.is_floating_point()} == {dtype}
        assert not model.training


def test_loaded_values_equal_the_file(prior_dir: Path) -> None:
    from safetensors.torch import load_file

    model = load_stage(StageC, StageCConfig, prior_dir / "prior", torch.float32)
    expected = load_file(prior_dir / "prior" / "diffusion_pytorch_model.safetensors")
    got = model.state_dict()
    assert set(got) == set(expected)
    assert all(torch.equal(got[k], expected[k]) for k in expected)


def test_bare_prior_model_loads_like_the_published_alternatives(tiny_root: Path) -> None:
    model = load_stage(StageC, StageCConfig, tiny_root / "wuerstchen-prior-model-finetuned", torch.float32)
    assert isinstance(model, StageC)


def load_prior(folder: Path) -> StageC:
    return load_stage(StageC, StageCConfig, folder, torch.float32)


def test_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="Missing folder"):
        load_prior(tmp_path / "nowhere")


def test_missing_weights(repo_copy) -> None:
    folder = repo_copy("wuerstchen-prior") / "prior"
    (folder / "diffusion_pytorch_model.safetensors").unlink()
    with pytest.raises(CheckpointError, match=r"Missing weights .*diffusion_pytorch_model\.safetensors"):
        load_prior(folder)


def test_missing_config(repo_copy) -> None:
    folder = repo_copy("wuerstchen-prior") / "prior"
    (folder / "config.json").unlink()
    with pytest.raises(CheckpointError, match=r"Missing file .*config\.json"):
        load_prior(folder)


@pytest.mark.parametrize("keep", [0.5, 0.999])
def test_truncated_file(repo_copy, keep: float) -> None:
    path = repo_copy("wuerstchen-prior") / "prior" / "diffusion_pytorch_model.safetensors"
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    with pytest.raises(CheckpointError, match="damaged or incomplete") as info:
        load_prior(path.parent)
    assert str(path) in str(info.value)


def test_corrupt_header(repo_copy) -> None:
    path = repo_copy("wuerstchen-prior") / "prior" / "diffusion_pytorch_model.safetensors"
    data = bytearray(path.read_bytes())
    data[8:40] = b"\xff" * 32
    path.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="damaged"):
        load_prior(path.parent)


def test_wrong_shapes(repo_copy) -> None:
    folder = repo_copy("wuerstchen-prior") / "prior"
    config = json.loads((folder / "config.json").read_text())
    config["c"] = 48
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match=r"has shape .* but config\.json says"):
        load_prior(folder)


def test_extra_and_missing_tensors(repo_copy) -> None:
    from safetensors.torch import load_file, save_file

    folder = repo_copy("wuerstchen-prior") / "prior"
    path = folder / "diffusion_pytorch_model.safetensors"
    state = load_file(path)
    state.pop("out.1.bias")
    save_file(state, path)
    with pytest.raises(CheckpointError, match=r"missing tensors out\.1\.bias"):
        load_prior(folder)
    state["surprise"] = torch.zeros(1)
    save_file(state, path)
    with pytest.raises(CheckpointError, match="'surprise'"):
        load_prior(folder)


class _Trap:
    """Unpickling this writes a marker file: proof that a pickle was opened."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_pickle_only_folder_is_refused_unopened(repo_copy, tmp_path: Path) -> None:
    folder = repo_copy("wuerstchen-prior") / "prior"
    (folder / "diffusion_pytorch_model.safetensors").unlink()
    marker = tmp_path / "unpickled"
    (folder / "diffusion_pytorch_model.bin").write_bytes(pickle.dumps(_Trap(marker)))
    with pytest.raises(
        CheckpointError, match=r"only pickle weights \(diffusion_pytorch_model\.bin\)"
    ) as info:
        load_prior(folder)
    assert "never opened" in str(info.value)
    assert not marker.exists()


def test_pickle_only_text_encoder_is_refused_unopened(repo_copy, tmp_path: Path) -> None:
    from wuerstchen_desktop.core.engine.text import TextEncoder

    root = repo_copy("wuerstchen-prior")
    (root / "text_encoder" / "model.safetensors").unlink()
    marker = tmp_path / "unpickled"
    (root / "text_encoder" / "pytorch_model.bin").write_bytes(pickle.dumps(_Trap(marker)))
    with pytest.raises(CheckpointError, match="only pickle weights"):
        TextEncoder(root, torch.float32, "cpu")
    assert not marker.exists()


def test_sharded_weights_load(repo_copy) -> None:
    from safetensors.torch import load_file, save_file

    folder = repo_copy("wuerstchen-prior") / "prior"
    path = folder / "diffusion_pytorch_model.safetensors"
    state = load_file(path)
    path.unlink()
    keys = sorted(state)
    half = len(keys) // 2
    shards = {
        "diffusion_pytorch_model-00001-of-00002.safetensors": keys[:half],
        "diffusion_pytorch_model-00002-of-00002.safetensors": keys[half:],
    }
    weight_map = {}
    for name, names in shards.items():
        save_file({k: state[k] for k in names}, folder / name)
        weight_map.update(dict.fromkeys(names, name))
    (folder / "diffusion_pytorch_model.safetensors.index.json").write_text(
        json.dumps({"weight_map": weight_map})
    )
    model = load_prior(folder)
    assert torch.equal(model.state_dict()["out.1.bias"], state["out.1.bias"])
