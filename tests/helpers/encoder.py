"""Random image-encoder weights where a finished fetch leaves them."""

from __future__ import annotations

from pathlib import Path


def write_encoder_weights(folder: Path) -> Path:
    """An ``effnet-<sha>.safetensors`` file of random weights in ``folder`` (the test's own data folder)."""
    import torch
    from safetensors.torch import save_file

    from wuerstchen_desktop.core.models.effnet_encoder import EffNetEncoder

    folder.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    state = {k: v.contiguous() for k, v in EffNetEncoder().state_dict().items()}
    path = folder / f"effnet-{'cd' * 32}.safetensors"
    save_file(state, str(path), metadata={"format": "pt"})
    return path
