"""The image encoder's weights: from the published training checkpoint to a safetensors file, and back
to a module.

The weights are published only inside the Würstchen authors' Stage B training checkpoint
(``ENCODER_FILE`` of the Hub model repository ``ENCODER_REPO``), a torch pickle whose ``ENCODER_KEY``
entry is the encoder's state dict, beside the Stage B network and its optimizer's state.
``read_encoder_checkpoint`` reads it only with ``torch.load(weights_only=True)`` (pickle_weights.py), so
a file holding anything that could run code is refused without running it; it keeps that one entry and
checks every name and shape against ``EffNetEncoder``. ``convert_encoder`` writes those tensors once as
a safetensors file, and the app only ever loads that file (``load_encoder``).

torch is imported inside the functions, so the constants cost nothing to import.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from wuerstchen_desktop.core.engine.pickle_weights import read_state_dict
from wuerstchen_desktop.core.errors import CheckpointError

if TYPE_CHECKING:
    import torch

    from wuerstchen_desktop.core.models.effnet_encoder import EffNetEncoder

log = logging.getLogger(__name__)

ENCODER_REPO = "dome272/wuerstchen"  # a Hub model repository (MIT)
ENCODER_FILE = "model_v2_stage_b.pt"
ENCODER_KEY = "effnet_state_dict"
WHAT = "image encoder"
_PT_HINT = "Delete {0} and download the image encoder again."


def expected_shapes() -> dict[str, tuple[int, ...]]:
    """Every tensor name of ``EffNetEncoder`` with its shape; built on the meta device (no memory)."""
    import torch

    from wuerstchen_desktop.core.models.effnet_encoder import EffNetEncoder

    with torch.device("meta"):
        model = EffNetEncoder()
    return {k: tuple(v.shape) for k, v in model.state_dict().items()}


def check_shapes(shapes: dict[str, tuple[int, ...]], path: Path, hint: str) -> None:
    """Names and shapes strictly as ``EffNetEncoder``'s: one sentence naming the first difference."""
    expected = expected_shapes()
    for key, shape in shapes.items():
        want = expected.get(key)
        if want is None:
            raise CheckpointError(
                f"{path} holds the tensor {key!r}, which the EfficientNetV2-S image encoder does not have: "
                "it is not the published encoder.",
                hint,
            )
        if want != shape:
            raise CheckpointError(
                f"{path}: the image encoder's tensor {key!r} has shape {shape}, but it needs {want}.", hint
            )
    missing = [k for k in expected if k not in shapes]
    if missing:
        more = f" and {len(missing) - 3} more" if len(missing) > 3 else ""
        raise CheckpointError(
            f"{path} is missing the image encoder's tensors {', '.join(missing[:3])}{more}.", hint
        )


def read_encoder_checkpoint(pt_path: Path) -> dict[str, torch.Tensor]:
    """The encoder's tensors from a checkpoint in the published layout (``{ENCODER_KEY: {...}, ...}``)
    or a bare state dict, read with weights-only unpickling and checked name by name, shape by shape.
    Raises CheckpointError for a missing, damaged, hostile or mismatched file."""
    pt_path = Path(pt_path)
    hint = _PT_HINT.format(pt_path)
    state = read_state_dict(pt_path, hint, key=ENCODER_KEY, what=WHAT)
    check_shapes({k: tuple(v.shape) for k, v in state.items()}, pt_path, hint)
    return state


def convert_encoder(pt_path: Path, dst: Path) -> Path:
    """Write the encoder's tensors of ``pt_path`` (see ``read_encoder_checkpoint``) as a safetensors file
    at ``dst``, atomically; ``dst`` is left as it was when anything is refused. Returns ``dst``."""
    from safetensors.torch import save

    from wuerstchen_desktop.core.atomicfile import replace_atomic

    pt_path, dst = Path(pt_path), Path(dst)
    state = read_encoder_checkpoint(pt_path)
    tensors = {k: v.detach().clone().contiguous() for k, v in state.items()}
    data = save(tensors, metadata={"format": "pt", "source": f"{ENCODER_REPO}/{ENCODER_FILE}:{ENCODER_KEY}"})
    try:
        replace_atomic(data, dst)
    except OSError as exc:
        raise CheckpointError(
            f"Cannot write the converted image encoder to {dst}: {exc.strerror or exc}.",
            "Check that the folder is writable and the disk has room.",
        ) from exc
    log.info("converted the image encoder %s to %s", pt_path, dst)
    return dst


def load_encoder(
    path: Path, device: torch.device | str = "cpu", dtype: torch.dtype | None = None
) -> EffNetEncoder:
    """The encoder from a safetensors file written by ``convert_encoder``: names and shapes checked from
    the header first, built on the meta device and filled with the tensors, floats as ``dtype`` (float32
    when not given). In eval mode, no grads. Raises CheckpointError for a missing, damaged or mismatched
    file."""
    import torch
    from safetensors import SafetensorError, safe_open

    from wuerstchen_desktop.core.models.effnet_encoder import EffNetEncoder

    path = Path(path)
    hint = f"Delete {path} and download the image encoder again."
    if not path.is_file():
        raise CheckpointError(f"Missing image encoder {path}.", hint)
    dtype = dtype or torch.float32
    state: dict[str, torch.Tensor] = {}
    try:
        with safe_open(str(path), framework="pt", device="cpu") as f:
            keys = list(f.keys())
            check_shapes({k: tuple(f.get_slice(k).get_shape()) for k in keys}, path, hint)
            for key in keys:
                t = f.get_tensor(key)
                state[key] = (t.to(dtype) if t.is_floating_point() else t).to(device)
    except (SafetensorError, OSError) as exc:
        raise CheckpointError(f"{path} is damaged or incomplete ({exc}).", hint) from exc
    with torch.device("meta"):
        model = EffNetEncoder()
    model.load_state_dict(state, strict=True, assign=True)
    return model.eval().requires_grad_(False)
