"""The image encoder against torchvision's EfficientNetV2-S under the training example's layout.

The oracle (tests/helpers/torchvision_effnet.py) is torchvision's own ``models/efficientnet.py`` and
``transforms``, run from its released wheel, with the mapper of the Würstchen training example. The
same random state dict is loaded strictly into both; float32 on the CPU.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

from tests.helpers.torchvision_effnet import TorchvisionOracle, fetch_source, randomise
from wuerstchen_desktop.core.models.effnet_encoder import EffNetEncoder, encode_image

pytestmark = pytest.mark.parity

TOLERANCE = 1e-4


@pytest.fixture(scope="module")
def oracle(tmp_path_factory: pytest.TempPathFactory) -> TorchvisionOracle:
    return TorchvisionOracle(fetch_source(tmp_path_factory.mktemp("torchvision")))


@pytest.fixture(scope="module")
def pair(oracle: TorchvisionOracle) -> tuple[torch.nn.Module, EffNetEncoder]:
    reference = randomise(oracle.encoder(), seed=3)
    ours = EffNetEncoder()
    ours.load_state_dict(reference.state_dict(), strict=True)
    return reference, ours


def test_the_oracle_is_torchvision_and_stays_private(oracle: TorchvisionOracle) -> None:
    assert Path(oracle.efficientnet.__file__).parts[-3:] == ("torchvision", "models", "efficientnet.py")
    assert "torchvision" not in sys.modules or sys.modules["torchvision"].__spec__ is not None


def test_names_and_shapes_are_the_training_examples(oracle: TorchvisionOracle) -> None:
    with torch.device("meta"):
        reference, ours = oracle.encoder(), EffNetEncoder()
    want = {k: tuple(v.shape) for k, v in reference.state_dict().items()}
    assert {k: tuple(v.shape) for k, v in ours.state_dict().items()} == want
    assert len(want) == 786
    assert sum(p.numel() for p in ours.parameters()) == 20_177_488 + 1280 * 16 + 2 * 16


@pytest.mark.parametrize(("height", "width"), [(256, 256), (384, 256)])
def test_same_weights_same_latent(pair, height: int, width: int) -> None:
    reference, ours = pair
    x = torch.randn(2, 3, height, width, generator=torch.Generator().manual_seed(height + width))
    with torch.no_grad():
        want, got = reference(x), ours(x)
    assert got.shape == (2, 16, height // 32, width // 32)
    assert want.std() > 0.1  # a real signal through all 40 blocks, not a collapse to a constant
    assert (got - want).abs().max().item() < TOLERANCE


def test_an_image_to_its_prior_space_latent(pair, oracle: TorchvisionOracle) -> None:
    """The whole path from pixels in [0, 1] of any size: resized to 32 x the latent size, normalised,
    encoded, then ``(x + 1) / 42`` as the published prior was trained with."""
    reference, ours = pair
    pixels = torch.rand(1, 3, 300, 200, generator=torch.Generator().manual_seed(7))
    latent_size = (9, 6)
    with torch.no_grad():
        want = reference(oracle.preprocess(latent_size)(pixels)).add(1).div(42)
    got = encode_image(ours, pixels, latent_size)
    assert got.shape == (1, 16, 9, 6)
    assert (got - want).abs().max().item() < TOLERANCE / 42
