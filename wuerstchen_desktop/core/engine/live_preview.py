"""Live previews of Stage C: the official previewer network, or a cheap approximation without it.

The previewer is one file of the official Würstchen demo, the Hugging Face *Space* ``warp-ai/Wuerstchen``
(``PREVIEWER_FILE``), downloaded as an optional extra with the checkpoints (core/hub/catalogue.py). It is a
training checkpoint, a torch pickle: the weights under ``state_dict`` (a third of the file) beside the
optimizer's state. A pickle can run code when it is loaded, so ``convert_previewer`` reads it only with
``torch.load(weights_only=True)`` (pickle_weights.py), keeps ``state_dict`` alone, checks every name
and shape against ``Previewer``, and writes those tensors once as a safetensors file in the app's data
folder. The app only ever loads that file (``load_previewer``). ``find_previewer`` does both steps from
the Hugging Face cache, without the network.

Both the previewer and ``approximate_preview`` take the Stage C latent as the prior's sampler holds it
(``(B, 16, h, w)``, before the pipeline's ``* 42 - 1`` rescale) and give ``(B, 3, 4h, 4w)`` pixels in
[0, 1]; ``render_previews`` turns those into RGB888 bytes for the window.

torch is imported inside the functions, so the constants cost nothing to import.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING

from wuerstchen_desktop.core import appdirs
from wuerstchen_desktop.core.engine.pickle_weights import read_state_dict
from wuerstchen_desktop.core.errors import CheckpointError
from wuerstchen_desktop.core.hub import cache_layout
from wuerstchen_desktop.core.hub.catalogue import (
    PREVIEWER_FILE,
    PREVIEWER_REPO,
    PREVIEWER_REPO_TYPE,
    PREVIEWER_SHA256,
)

if TYPE_CHECKING:
    import torch

    from wuerstchen_desktop.core.models.preview_net import Previewer

__all__ = [
    "PREVIEWER_FILE",
    "PREVIEWER_REPO",
    "PREVIEWER_REPO_TYPE",
    "approximate_preview",
    "convert_previewer",
    "find_previewer",
    "load_previewer",
    "preview_pixels",
    "render_previews",
]

log = logging.getLogger(__name__)

FIRST_KEY = "blocks.0.weight"  # (c_hidden, c_in, 1, 1): gives the width of a checkpoint
SCALE = 4  # preview pixels per latent position: a 24x24 latent (1024x1024) gives 96x96
_NAME = "previewer-{}.safetensors"
_DOWNLOAD_HINT = "Delete {0} and download it again with `wuerstchen-desktop download`."


# -- checking a state dict -------------------------------------------------------------------------
def _expected(c_hidden: int) -> dict[str, tuple[int, ...]]:
    """Every tensor name of a ``Previewer`` of this width, with its shape; built on the meta device."""
    import torch

    from wuerstchen_desktop.core.models.preview_net import Previewer

    with torch.device("meta"):
        model = Previewer(c_hidden=c_hidden)
    return {k: tuple(v.shape) for k, v in model.state_dict().items()}


def _check_shapes(shapes: dict[str, tuple[int, ...]], path: Path, hint: str) -> int:
    """Check names and shapes strictly against a ``Previewer``; return its ``c_hidden``."""
    first = shapes.get(FIRST_KEY)
    if first is None:
        raise CheckpointError(f"{path} is not a Würstchen previewer: it has no tensor {FIRST_KEY!r}.", hint)
    c_hidden = first[0] if len(first) == 4 else 0
    if c_hidden < 4 or c_hidden % 4:
        raise CheckpointError(
            f"{path} is not a Würstchen previewer: the tensor {FIRST_KEY!r} has shape {first}.", hint
        )
    expected = _expected(c_hidden)
    for key, shape in shapes.items():
        want = expected.get(key)
        if want is None:
            raise CheckpointError(
                f"{path} holds the tensor {key!r}, which the previewer does not have.", hint
            )
        if want != shape:
            raise CheckpointError(
                f"{path}: the tensor {key!r} has shape {shape}, but the previewer "
                f"(width {c_hidden}) needs {want}.",
                hint,
            )
    missing = [k for k in expected if k not in shapes]
    if missing:
        more = f" and {len(missing) - 3} more" if len(missing) > 3 else ""
        raise CheckpointError(f"{path} is missing the tensors {', '.join(missing[:3])}{more}.", hint)
    return c_hidden


# -- .pt to safetensors ----------------------------------------------------------------------------
def convert_previewer(pt_path: Path, dst: Path) -> Path:
    """Convert the published previewer checkpoint (a torch pickle) to a safetensors file at ``dst``.

    The pickle is read with ``torch.load(weights_only=True)`` only (pickle_weights.py): a file holding
    objects that could run code is refused without running it. Accepts the published training checkpoint
    (``{"state_dict": {...}, "optimizer_state_dict": ..., ...}``: only ``state_dict`` is kept) or a bare
    state dict. Every tensor name and shape is checked against ``Previewer`` (width from
    ``blocks.0.weight``). Raises CheckpointError, naming the tensor or what is wrong, for a hostile,
    truncated, damaged or mismatched file, or when ``dst``'s disk has no room; ``dst`` is then left as it
    was. Returns ``dst``.
    """
    from safetensors.torch import save

    from wuerstchen_desktop.core.atomicfile import replace_atomic

    pt_path, dst = Path(pt_path), Path(dst)
    hint = _DOWNLOAD_HINT.format(pt_path)
    state = read_state_dict(pt_path, hint)
    c_hidden = _check_shapes({k: tuple(v.shape) for k, v in state.items()}, pt_path, hint)
    tensors = {k: v.detach().clone().contiguous() for k, v in state.items()}
    metadata = {"format": "pt", "source": f"{PREVIEWER_REPO}/{PREVIEWER_FILE}", "c_hidden": str(c_hidden)}
    data = save(tensors, metadata=metadata)
    _check_room(dst, len(data))
    try:
        replace_atomic(data, dst)
    except OSError as exc:
        raise CheckpointError(
            f"Cannot write the converted previewer to {dst}: {exc.strerror or exc}.",
            "Check that the folder is writable and the disk has room.",
        ) from exc
    log.info("converted the previewer %s to %s (width %d)", pt_path, dst, c_hidden)
    return dst


def _check_room(dst: Path, size: int) -> None:
    """Refuse before writing when the disk of ``dst`` (maybe not the download's disk) lacks ``size`` bytes."""
    import shutil

    from wuerstchen_desktop.core.hub.units import human

    folder = dst.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    try:
        free = shutil.disk_usage(folder).free
    except OSError:
        return  # cannot tell: the write itself says what went wrong
    if free < size:
        raise CheckpointError(
            f"Not enough disk space to set up the live preview model: it needs {human(size)} in "
            f"{dst.parent}, which has {human(free)} free.",
            "Free some space; until then, live previews are approximate.",
        )


# -- loading the safetensors -----------------------------------------------------------------------
def _header_shapes(path: Path, hint: str) -> dict[str, tuple[int, ...]]:
    from safetensors import SafetensorError, safe_open

    if not path.is_file():
        raise CheckpointError(f"Missing previewer {path}.", hint)
    try:
        with safe_open(str(path), framework="pt", device="cpu") as f:
            return {k: tuple(f.get_slice(k).get_shape()) for k in f.keys()}  # noqa: SIM118
    except (SafetensorError, OSError) as exc:
        raise CheckpointError(f"{path} is damaged or incomplete ({exc}).", hint) from exc


def load_previewer(
    path: Path, device: torch.device | str = "cpu", dtype: torch.dtype | None = None
) -> Previewer:
    """The previewer from a safetensors file written by ``convert_previewer``: strict names and shapes,
    built on the meta device and filled with the tensors, floats converted to ``dtype`` (float32 when not
    given; the running statistics of batch norm keep their own integer counter). In eval mode, no grads.
    Raises CheckpointError for a missing, damaged or mismatched file.
    """
    import torch
    from safetensors import SafetensorError, safe_open

    from wuerstchen_desktop.core.models.preview_net import Previewer

    path = Path(path)
    hint = f"Delete {path}: the app converts the downloaded previewer again."
    c_hidden = _check_shapes(_header_shapes(path, hint), path, hint)
    dtype = dtype or torch.float32
    state: dict[str, torch.Tensor] = {}
    try:
        with safe_open(str(path), framework="pt", device="cpu") as f:
            for key in f.keys():  # noqa: SIM118 - safe_open is not a mapping
                t = f.get_tensor(key)
                if t.is_floating_point():
                    t = t.to(dtype)
                state[key] = t.to(device)
    except (SafetensorError, OSError) as exc:
        raise CheckpointError(f"{path} is damaged or incomplete ({exc}).", hint) from exc
    with torch.device("meta"):
        model = Previewer(c_hidden=c_hidden)
    model.load_state_dict(state, strict=True, assign=True)
    return model.eval().requires_grad_(False)


# -- from the Hugging Face cache -------------------------------------------------------------------
def _blob_sha256(pt: Path, rdir: Path, commit: str) -> str:
    """The sha256 of the downloaded file: from its blob's name or this app's manifest, else by hashing."""
    if pt.is_symlink():
        name = Path(os.readlink(pt)).name
        if cache_layout.SHA256.match(name):
            return name
    manifest = cache_layout.read_manifest(rdir, commit) or {"files": {}}
    etag = (manifest["files"].get(PREVIEWER_FILE) or {}).get("etag")
    if isinstance(etag, str) and cache_layout.SHA256.match(etag):
        return etag
    h = hashlib.sha256()
    cache_layout.hash_into(h, pt)
    return h.hexdigest()


def find_previewer(cache_dir: Path | str | None = None, data_dir: Path | str | None = None) -> Path | None:
    """The converted previewer, ready for ``load_previewer``; None when it was never downloaded.

    Looks for ``PREVIEWER_FILE`` of the Space in the Hugging Face cache (``spaces--warp-ai--Wuerstchen``,
    at ``refs/main``), never on the network. The first call after a download converts it into
    ``data_dir`` (by default ``appdirs.previewer_dir()``) as ``previewer-<sha256 of the .pt>.safetensors``;
    later calls return that file as long as its header checks out, and a changed upstream file (a new
    sha256) is converted again, the older conversions removed. A downloaded file that is refused (damaged,
    truncated, holding code) raises CheckpointError saying what to do: the caller decides whether to fall
    back to ``approximate_preview``.
    """
    status = cache_layout.local_status(PREVIEWER_REPO, cache_dir=cache_dir, repo_type=PREVIEWER_REPO_TYPE)
    if not status.complete or status.snapshot is None or status.commit is None:
        return None
    pt = status.snapshot / PREVIEWER_FILE
    rdir = cache_layout.repo_dir(cache_layout.cache_root(cache_dir), PREVIEWER_REPO, PREVIEWER_REPO_TYPE)
    folder = Path(data_dir) if data_dir is not None else appdirs.previewer_dir()
    sha = _blob_sha256(pt, rdir, status.commit)
    dst = folder / _NAME.format(sha)
    if dst.is_file():
        try:
            _check_shapes(_header_shapes(dst, ""), dst, "")
            return dst
        except CheckpointError as exc:
            log.warning("converting the previewer again: %s", exc.message)
    if sha != PREVIEWER_SHA256:  # a newer upload, or a mirror's: converted all the same when it fits
        log.info("the previewer %s is not the file the catalogue knows (sha256 %s)", pt, sha)
    convert_previewer(pt, dst)
    for old in folder.glob(_NAME.format("*")):
        if old != dst:
            with contextlib.suppress(OSError):
                old.unlink()
    return dst


# -- pixels ----------------------------------------------------------------------------------------
def approximate_preview(latents: torch.Tensor) -> torch.Tensor:
    """A preview without the previewer: ``(B, 16, h, w)`` to ``(B, 3, 4h, 4w)`` float32 on the CPU, in [0, 1].

    Each image's 16 latent channels are projected onto their first three principal components, which
    become red, green and blue, each stretched between its 2nd and 98th percentile, then upsampled 4x. It
    shows where things are (the layout), not their colours: label it as approximate. A component's sign
    is fixed by its loadings, so the colours stay put from one step to the next.
    """
    import torch
    import torch.nn.functional as F

    if latents.dim() != 4 or latents.shape[1] < 3:
        raise ValueError(f"expected latents (B, C>=3, h, w), got {tuple(latents.shape)}")
    x = torch.nan_to_num(latents.detach().to("cpu", torch.float32), nan=0.0, posinf=0.0, neginf=0.0)
    b, c, h, w = x.shape
    flat = x.reshape(b, c, h * w)
    flat = flat - flat.mean(dim=2, keepdim=True)
    cov = flat @ flat.transpose(1, 2) / max(h * w - 1, 1)
    _, vectors = torch.linalg.eigh(cov)  # ascending eigenvalues
    components = vectors.flip(-1)[..., :3]  # (b, c, 3): the three largest
    loading = components.sum(dim=1, keepdim=True)
    tie = components.gather(1, components.abs().argmax(dim=1, keepdim=True))
    sign = torch.where(loading.abs() > 1e-6, loading.sign(), tie.sign())
    sign = torch.where(sign == 0, torch.ones_like(sign), sign)
    projected = (components * sign).transpose(1, 2) @ flat  # (b, 3, h*w)
    lo = torch.quantile(projected, 0.02, dim=2, keepdim=True)
    hi = torch.quantile(projected, 0.98, dim=2, keepdim=True)
    span = hi - lo
    flat_out = torch.where(
        span > 1e-6, (projected - lo) / span.clamp_min(1e-6), torch.full_like(projected, 0.5)
    )
    out = flat_out.clamp(0, 1).reshape(b, 3, h, w)
    return F.interpolate(out, scale_factor=SCALE, mode="bilinear", align_corners=False).clamp(0, 1)


def preview_pixels(latents: torch.Tensor, previewer: Previewer | None = None) -> torch.Tensor:
    """``(B, 3, 4h, 4w)`` float32 on the CPU in [0, 1]: from ``previewer`` when given, else approximated."""
    import torch

    if previewer is None:
        return approximate_preview(latents)
    weight = previewer.state_dict(keep_vars=True)["blocks.0.weight"]
    with torch.inference_mode():
        out = previewer(latents.detach().to(weight.device, weight.dtype))
    return out.float().clamp(0, 1).cpu()


def render_previews(images: torch.Tensor) -> list[bytes]:
    """``(B, 3, H, W)`` in [0, 1] to one RGB888 buffer per image (``H * W * 3`` bytes, rows top to bottom),
    rounded as ``outputs.to_pil`` rounds the finished images."""
    from wuerstchen_desktop.core.engine.outputs import to_uint8

    if images.dim() != 4 or images.shape[1] != 3:
        raise ValueError(f"expected images (B, 3, H, W), got {tuple(images.shape)}")
    return [a.tobytes() for a in to_uint8(images).numpy()]
