"""The demo's own previewer, written out independently of ``core.models.Previewer``, and the layout of the
file the demo publishes: the outside oracle of the previewer tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

PUBLISHED_NAME = "text2img_wurstchen_b_v1_previewer_100k.pt"  # as in the Space, ``previewer/``


class DemoPreviewer(nn.Module):
    """The demo's previewer, the outside oracle: written out layer by layer from the Space's own
    ``previewer/modules.py`` (Hugging Face Space ``warp-ai/Wuerstchen``; public mirror
    ``camenduru/Wuerstchen-hf``), whose ``app.py`` loads ``torch.load(file)["state_dict"]`` into it.
    Independent of ``core.models.Previewer``: 19 modules, two 2x transposed convolutions (4x)."""

    def __init__(self, c_hidden: int = 512, c_in: int = 16, c_out: int = 3) -> None:
        super().__init__()
        h, h2, h4 = c_hidden, c_hidden // 2, c_hidden // 4
        self.blocks = nn.Sequential(
            nn.Conv2d(c_in, h, 1), nn.GELU(), nn.BatchNorm2d(h),                    # 0, 1, 2
            nn.Conv2d(h, h, 3, padding=1), nn.GELU(), nn.BatchNorm2d(h),            # 3, 4, 5
            nn.ConvTranspose2d(h, h2, 2, stride=2), nn.GELU(), nn.BatchNorm2d(h2),  # 6, 7, 8: 2x
            nn.Conv2d(h2, h2, 3, padding=1), nn.GELU(), nn.BatchNorm2d(h2),         # 9, 10, 11
            nn.ConvTranspose2d(h2, h4, 2, stride=2), nn.GELU(), nn.BatchNorm2d(h4),  # 12, 13, 14: 4x
            nn.Conv2d(h4, h4, 3, padding=1), nn.GELU(), nn.BatchNorm2d(h4),         # 15, 16, 17
            nn.Conv2d(h4, c_out, 1),                                                # 18
        )  # fmt: skip

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.blocks(x)  # type: ignore[no-any-return]


def randomise(model: nn.Module, seed: int) -> nn.Module:
    """Random weights and batch norm statistics (the statistics matter: they are used in eval mode)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, t in model.state_dict().items():
            if name.endswith("num_batches_tracked"):
                t.fill_(100_000)
            elif name.endswith("running_var"):
                t.copy_(torch.rand(t.shape, generator=g) + 0.5)
            elif t.is_floating_point():
                t.copy_(torch.randn(t.shape, generator=g) / max(t[0].numel(), 1) ** 0.5)
    return model.eval()


def published_layout(model: nn.Module) -> dict[str, Any]:
    """What the demo's file holds, as the Würstchen authors' training scripts save a checkpoint
    (``train_stage_C.py`` of ``dome272/Wuerstchen``): the weights beside the run's state. The optimizer
    state is a real AdamW's after a step; with it, at full size, the file comes within a few hundred bytes
    of the published 45,244,773, where the weights alone would be a third of that."""
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    model(torch.randn(1, 16, 2, 2, generator=torch.Generator().manual_seed(0))).mean().backward()
    optimizer.step()
    return {
        "state_dict": model.state_dict(),
        "optimizer_state_dict": optimizer.state_dict(),
        "scheduler_last_step": 100_000,
        "iter": 100_000,
        "metrics": {"ema_loss": 0.05},
        "grad_scaler_state_dict": torch.amp.GradScaler("cpu").state_dict(),
        "wandb_run_id": "1a2b3c4d",
    }


def write_demo_pt(folder: Path, c_hidden: int = 32, seed: int = 3) -> Path:
    """A demo previewer with random weights in the published layout, under the published file's name."""
    path = folder / PUBLISHED_NAME
    torch.save(published_layout(randomise(DemoPreviewer(c_hidden=c_hidden), seed)), path)
    return path
