"""The image encoder's weights from a checkpoint in the published layout: weights-only reading, names and
shapes checked, one sentence for what is wrong, a safetensors copy that loads strictly."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors import safe_open

from tests.helpers.pickles import Trap
from wuerstchen_desktop.core.engine.image_encoder import (
    ENCODER_KEY,
    convert_encoder,
    load_encoder,
    read_encoder_checkpoint,
)
from wuerstchen_desktop.core.errors import CheckpointError
from wuerstchen_desktop.core.models.effnet_encoder import EffNetEncoder, encode_image


def stage_b_layout(effnet_state: dict[str, Any]) -> dict[str, Any]:
    """What ``model_v2_stage_b.pt`` holds, as ``train_stage_B.py`` of ``dome272/Wuerstchen`` saves it:
    the Stage B network, the encoder, the optimizer's and the run's state (here a small stand-in
    network with a real AdamW state after one step)."""
    generator = torch.nn.Linear(4, 4)
    optimizer = torch.optim.AdamW(generator.parameters(), lr=1e-4, betas=(0.9, 0.95))
    generator(torch.ones(1, 4)).sum().backward()
    optimizer.step()
    return {
        "state_dict": generator.state_dict(),
        ENCODER_KEY: effnet_state,
        "optimizer_state_dict": optimizer.state_dict(),
        "scheduler_last_step": 150_000,
        "iter": 150_000,
        "grad_scaler_state_dict": torch.amp.GradScaler("cpu").state_dict(),
        "wandb_run_id": "2x3y4z",
    }


@pytest.fixture(scope="module")
def encoder() -> EffNetEncoder:
    model = EffNetEncoder()
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():  # batch norm statistics are used in eval mode: make them matter
        for name, t in model.state_dict().items():
            if name.endswith(("running_mean", "bias")):
                t.copy_(torch.randn(t.shape, generator=g) * 0.1)
            elif name.endswith("running_var"):
                t.copy_(torch.rand(t.shape, generator=g) + 0.5)
    return model


@pytest.fixture(scope="module")
def published(encoder: EffNetEncoder, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("hub") / "model_v2_stage_b.pt"
    torch.save(stage_b_layout(encoder.state_dict()), path)
    return path


def test_published_layout_gives_the_encoders_weights(
    encoder: EffNetEncoder, published: Path, tmp_path: Path
) -> None:
    state = read_encoder_checkpoint(published)
    assert state.keys() == encoder.state_dict().keys()
    assert all(torch.equal(state[k], v) for k, v in encoder.state_dict().items())

    dst = convert_encoder(published, tmp_path / "encoder" / "effnet.safetensors")
    with safe_open(str(dst), framework="pt") as f:
        assert set(f.keys()) == set(encoder.state_dict())  # the Stage B network and the rest are left out
        assert f.metadata()["source"] == "dome272/wuerstchen/model_v2_stage_b.pt:effnet_state_dict"
    loaded = load_encoder(dst)
    assert not loaded.training and not any(p.requires_grad for p in loaded.parameters())
    pixels = torch.rand(1, 3, 80, 120, generator=torch.Generator().manual_seed(2))
    want = encode_image(encoder, pixels, (2, 3))
    assert torch.equal(encode_image(loaded, pixels, (2, 3)), want)
    assert want.shape == (1, 16, 2, 3)


def _refused(layout: dict[str, Any], tmp_path: Path, match: str) -> CheckpointError:
    path = tmp_path / "model_v2_stage_b.pt"
    torch.save(layout, path)
    dst = tmp_path / "effnet.safetensors"
    with pytest.raises(CheckpointError, match=match) as info:
        convert_encoder(path, dst)
    assert not dst.exists()
    assert "\n" not in str(info.value) and str(info.value).endswith("download the image encoder again.")
    return info.value


def test_a_wrong_shape_is_named(encoder: EffNetEncoder, tmp_path: Path) -> None:
    state = dict(encoder.state_dict())
    state["mapper.0.weight"] = torch.zeros(16, 1536, 1, 1)  # EfficientNetV2-L's width, not S's
    _refused(
        stage_b_layout(state),
        tmp_path,
        r"'mapper\.0\.weight' has shape \(16, 1536, 1, 1\), but it needs \(16, 1280, 1, 1\)\.",
    )


def test_a_missing_or_foreign_tensor_is_named(encoder: EffNetEncoder, tmp_path: Path) -> None:
    state = dict(encoder.state_dict())
    del state["mapper.1.running_var"]
    missing = r"is missing the image encoder's tensors mapper\.1\.running_var\."
    _refused(stage_b_layout(state), tmp_path, missing)
    state = {f"module.{k}": v for k, v in encoder.state_dict().items()}  # saved from a DDP wrapper
    _refused(stage_b_layout(state), tmp_path, r"holds the tensor 'module\.backbone\.0\.0\.weight', which")


def test_a_checkpoint_without_the_encoder_says_so(tmp_path: Path) -> None:
    layout = stage_b_layout({})
    del layout[ENCODER_KEY]
    _refused(layout, tmp_path, r"has no 'effnet_state_dict' entry \(it holds 'state_dict', .*\): it is not")


def test_code_in_the_checkpoint_is_refused_and_not_run(encoder: EffNetEncoder, tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    layout = stage_b_layout(encoder.state_dict())
    layout["args"] = Trap(marker)
    _refused(layout, tmp_path, "could run code when loaded; it was refused and nothing in it was run")
    assert not marker.exists()
    torch.load(tmp_path / "model_v2_stage_b.pt", weights_only=False)  # the trap is real
    assert marker.exists()


def test_a_damaged_safetensors_copy_is_refused(published: Path, tmp_path: Path) -> None:
    dst = convert_encoder(published, tmp_path / "effnet.safetensors")
    dst.write_bytes(dst.read_bytes()[: dst.stat().st_size // 2])
    with pytest.raises(CheckpointError, match="is damaged or incomplete"):
        load_encoder(dst)
    with pytest.raises(CheckpointError, match="Missing image encoder"):
        load_encoder(tmp_path / "absent.safetensors")
