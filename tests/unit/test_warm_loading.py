"""Loaded weights live in memory of their own, read while loading, never as views of the file's mapping
whose pages the first job would read."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

from wuerstchen_desktop.core.engine.loading import load_stage
from wuerstchen_desktop.core.models import StageB, StageBConfig

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="reads the process's mappings in /proc")


def mappings_of(path: Path) -> list[tuple[int, int]]:
    """The address ranges where this process maps ``path``."""
    target = str(path.resolve())
    found = []
    for line in Path("/proc/self/maps").read_text().splitlines():
        fields = line.split(maxsplit=5)
        if len(fields) == 6 and fields[5] == target:
            start, end = (int(x, 16) for x in fields[0].split("-"))
            found.append((start, end))
    return found


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_weights_are_not_views_of_the_mapped_file(decoder_dir: Path, dtype: torch.dtype) -> None:
    folder = decoder_dir / "decoder"
    weights = folder / "diffusion_pytorch_model.safetensors"
    model = load_stage(StageB, StageBConfig, folder, dtype)
    tensors = model.state_dict()
    assert tensors and all(t.dtype == dtype for t in tensors.values() if t.is_floating_point())
    ranges = mappings_of(weights)
    inside = [k for k, t in tensors.items() if any(a <= t.data_ptr() < b for a, b in ranges)]
    assert inside == [], f"{len(inside)} of {len(tensors)} weights are still views of the file's mapping"
