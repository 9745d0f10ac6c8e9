"""torchvision's own EfficientNetV2-S and image transforms, the outside oracle of the image encoder tests.

torchvision cannot be a dependency, not even of the tests: the wheel on PyPI is built against CUDA torch,
so beside a CPU torch its compiled operators fail to load and ``import torchvision`` fails
("operator torchvision::nms does not exist"); worse, once installed, transformers finds it and then fails
to import CLIP, which would break the app and every other test in that environment. The Python source of
``torchvision/models/efficientnet.py`` needs none of those operators, so the tests fetch the wheel with pip
(``pip download``, no install) into a temporary folder and import that source as it is, with only the
package ``__init__`` files skipped (they register the compiled operators), under the name ``torchvision``
for the time of the import and removed from ``sys.modules`` right after, so nothing else ever sees it.

``TrainingExampleEncoder`` is the image encoder as diffusers' Würstchen training example writes it
(``examples/wuerstchen/text_to_image/modeling_efficient_net_encoder.py``, the same class as
``EfficientNetEncoder`` in ``modules.py`` of ``dome272/Wuerstchen``): torchvision's
``efficientnet_v2_s().features`` as ``backbone``, then ``mapper`` = a 1x1 convolution 1280 -> 16 without bias
and ``BatchNorm2d(16)``; its ``EFFNET_PREPROCESS`` resizes bilinearly with antialiasing and normalises
with ImageNet's mean and standard deviation.
"""

from __future__ import annotations

import contextlib
import importlib
import subprocess
import sys
import types
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
from torch import nn

TORCHVISION = "torchvision==0.28.0"  # the release built for torch 2.13, the torch CI installs


def fetch_source(folder: Path) -> Path:
    """torchvision's Python files from its wheel, fetched with pip into ``folder``; returns the package
    folder. Raises RuntimeError saying why when pip cannot fetch it (no network, no such release)."""
    wheels = folder / "wheel"
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--quiet"]
    done = subprocess.run([*cmd, "-d", str(wheels), TORCHVISION], capture_output=True, text=True)
    found = sorted(wheels.glob("torchvision-*.whl"))
    if done.returncode != 0 or not found:
        raise RuntimeError(f"pip could not fetch {TORCHVISION}, the oracle of these tests:\n{done.stderr}")
    with zipfile.ZipFile(found[0]) as wheel:
        for name in wheel.namelist():
            if name.startswith("torchvision/") and name.endswith(".py"):
                wheel.extract(name, folder / "src")
    return folder / "src" / "torchvision"


@contextlib.contextmanager
def _importable_as_torchvision(package: Path) -> Iterator[None]:
    """``torchvision``, ``torchvision.models`` and ``torchvision.ops`` as bare packages over ``package``
    (their ``__init__`` files not run) for the time of the block; every ``torchvision`` module is
    dropped from ``sys.modules`` after it, so no other import finds this copy."""

    def ours() -> list[str]:
        return [k for k in sys.modules if k == "torchvision" or k.startswith("torchvision.")]

    saved = {k: sys.modules.pop(k) for k in ours()}
    try:
        for name, sub in (("torchvision", ""), ("torchvision.models", "models"), ("torchvision.ops", "ops")):
            stub = types.ModuleType(name)
            stub.__path__ = [str(package / sub)]
            sys.modules[name] = stub
        # efficientnet.py imports ``StochasticDepth`` from the package; give the bare package that one name
        depth = importlib.import_module("torchvision.ops.stochastic_depth")
        sys.modules["torchvision.ops"].StochasticDepth = depth.StochasticDepth  # type: ignore[attr-defined]
        yield
    finally:
        for k in ours():
            del sys.modules[k]
        sys.modules.update(saved)


class TorchvisionOracle:
    """torchvision's ``efficientnet`` module and ``transforms`` package, loaded from its wheel's source."""

    def __init__(self, package: Path) -> None:
        with _importable_as_torchvision(package):
            self.efficientnet: Any = importlib.import_module("torchvision.models.efficientnet")
            self.transforms: Any = importlib.import_module("torchvision.transforms")
            assert Path(self.efficientnet.__file__).is_relative_to(package)

    def encoder(self) -> nn.Module:
        """The training example's encoder over torchvision's backbone, random weights, eval mode."""
        return TrainingExampleEncoder(self.efficientnet.efficientnet_v2_s(weights=None).features)

    def preprocess(self, latent_size: tuple[int, int]) -> Any:
        """The training example's ``EFFNET_PREPROCESS`` for tensors, resizing to 32 x ``latent_size``."""
        t = self.transforms
        h, w = latent_size
        return t.Compose(
            [
                t.Resize((32 * h, 32 * w), interpolation=t.InterpolationMode.BILINEAR, antialias=True),
                t.Normalize(mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225)),
            ]
        )


class TrainingExampleEncoder(nn.Module):
    """``EfficientNetEncoder(c_latent=16, c_cond=1280, effnet="efficientnet_v2_s")`` of the training
    example, with torchvision's backbone passed in."""

    def __init__(self, backbone: nn.Module, c_latent: int = 16, c_cond: int = 1280) -> None:
        super().__init__()
        self.backbone = backbone.eval()
        self.mapper = nn.Sequential(
            nn.Conv2d(c_cond, c_latent, kernel_size=1, bias=False),
            nn.BatchNorm2d(c_latent),  # then normalize them to have mean 0 and std 1
        )
        self.eval()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.mapper(self.backbone(x))  # type: ignore[no-any-return]


def randomise(model: nn.Module, seed: int) -> nn.Module:
    """Random weights and batch norm statistics (used in eval mode, so they matter), scaled so that the
    activations stay of order one through the 40 blocks."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, t in model.state_dict().items():
            if name.endswith("num_batches_tracked"):
                t.fill_(1000)
            elif name.endswith("running_var"):
                t.copy_(torch.rand(t.shape, generator=g) + 0.5)
            elif name.endswith("running_mean") or name.endswith("bias"):
                t.copy_(torch.randn(t.shape, generator=g) * 0.1)
            elif t.is_floating_point() and t.ndim > 1:
                t.copy_(torch.randn(t.shape, generator=g) / t[0].numel() ** 0.5)
            elif t.is_floating_point():  # batch norm scales
                t.copy_(torch.rand(t.shape, generator=g) + 0.5)
    return model.eval()
