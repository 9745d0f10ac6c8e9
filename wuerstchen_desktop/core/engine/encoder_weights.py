"""The image encoder's weights, fetched lean out of Stage B's training checkpoint and kept as safetensors.

``fetch_encoder_weights`` has core/hub/lean_fetch.py fetch only the storages of ``effnet_state_dict``
(a few percent of the multi-GB file), turns them into tensors here (the one part that needs torch), and
writes them once, atomically, as ``effnet-<sha256 of the checkpoint>.safetensors`` in the app's data
folder, as the previewer is kept (live_preview.py). The ranges fetched are removed only after that file is
whole; a cancelled or failed fetch keeps them for the next try. ``find_encoder_weights`` returns the file
without the network.
"""

from __future__ import annotations

import logging
import math
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from wuerstchen_desktop.core import appdirs
from wuerstchen_desktop.core.errors import CheckpointError
from wuerstchen_desktop.core.hub import lean_fetch
from wuerstchen_desktop.core.hub.catalogue import ENCODER_BYTES
from wuerstchen_desktop.core.hub.checkpoint_pickle import TensorRef
from wuerstchen_desktop.core.hub.download import DownloadProgress

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)

_NAME = "effnet-{}.safetensors"


@dataclass(frozen=True)
class EncoderPlan:
    """What fetching the encoder costs, shown before it starts (the fields the first-run dialog reads)."""

    cache: Path  # where the safetensors file goes
    free: int
    to_fetch: int = ENCODER_BYTES  # the whole checkpoint's size once the user agreed to fetch all of it
    whole: bool = False  # the server sends no parts of files: the whole checkpoint, then the encoder
    on_disk: int = 0
    warnings: list[str] = field(default_factory=list, compare=False)

    @property
    def fits(self) -> bool:
        return self.free >= self.to_fetch


def plan_encoder(data_dir: Path | None = None) -> EncoderPlan:
    """The encoder's size (the catalogue's) and the free space where it goes; no network."""
    folder = Path(data_dir) if data_dir is not None else appdirs.encoder_dir()
    probe = folder
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    return EncoderPlan(folder, shutil.disk_usage(probe).free)


class ByteProgress:
    """A fetch's ``on_bytes`` as ``DownloadProgress`` reports with speed and time left, for a bar or the
    dialog. The bytes fetched pass the tensors' size a little (the archive's directory and pickle)."""

    def __init__(self, on_progress: Callable[[DownloadProgress], None], file: str, total: int) -> None:
        self.on_progress, self.file, self.total = on_progress, file, total
        self.done, self.start = 0, time.monotonic()

    def __call__(self, n: int) -> None:
        self.done += n
        self.report(self.done)

    def report(self, done: int, total: int | None = None) -> None:
        total = max(total or self.total, done)
        speed = done / max(time.monotonic() - self.start, 1e-3)
        eta = (total - done) / speed if speed > 0 else None
        self.on_progress(DownloadProgress(done, total, speed, eta, self.file))

    def end(self) -> None:
        self.report(self.done, self.done)


def find_encoder_weights(data_dir: Path | None = None) -> Path | None:
    """The encoder's safetensors file from an earlier fetch, if its header reads; None otherwise."""
    from safetensors import SafetensorError, safe_open

    folder = Path(data_dir) if data_dir is not None else appdirs.encoder_dir()
    for path in sorted(folder.glob(_NAME.format("*"))):
        try:
            with safe_open(str(path), framework="pt", device="cpu") as f:
                if list(f.keys()):
                    return path
        except (SafetensorError, OSError) as exc:
            log.warning("ignoring the damaged encoder file %s (%s)", path, exc)
    return None


def to_tensors(tensors: dict[str, TensorRef], storages: dict[str, bytes]) -> dict[str, torch.Tensor]:
    """Each ``TensorRef`` as a contiguous tensor of its own, copied out of its storage's bytes."""
    import torch

    out: dict[str, torch.Tensor] = {}
    for name, ref in tensors.items():
        dtype = getattr(torch, ref.storage.dtype)
        raw = storages[ref.storage.key]
        if ref.storage.numel == 0:
            flat = torch.empty(0, dtype=dtype)
        else:
            flat = torch.frombuffer(bytearray(raw), dtype=dtype)
        if math.prod(ref.shape) == 0:
            out[name] = torch.empty(ref.shape, dtype=dtype)
            continue
        out[name] = flat.as_strided(ref.shape, ref.stride, ref.offset).clone().contiguous()
    return out


def fetch_encoder_weights(
    data_dir: Path | None = None,
    *,
    cancelled: Callable[[], bool] = lambda: False,
    check: Callable[[dict[str, tuple[int, ...]]], None] | None = None,
    **fetch: Any,
) -> Path:
    """Fetch the encoder's tensors (``lean_fetch.fetch_state_dict``'s arguments pass through) and write
    them into ``data_dir`` (by default ``appdirs.encoder_dir()``); return the file. ``check`` sees every
    name and shape first and raises CheckpointError for a mismatch. Raises what the fetch raises, or
    CheckpointError when the file cannot be written."""
    from safetensors.torch import save

    from wuerstchen_desktop.core.atomicfile import replace_atomic

    folder = Path(data_dir) if data_dir is not None else appdirs.encoder_dir()
    state = lean_fetch.fetch_state_dict(work_root=folder / ".ranges", cancelled=cancelled, **fetch)
    if check is not None:
        check({name: ref.shape for name, ref in state.tensors.items()})
    data = save(
        to_tensors(state.tensors, state.storages),
        metadata={"format": "pt", "source": state.source, "key": lean_fetch.EFFNET_KEY},
    )
    dst = folder / _NAME.format(state.identity)
    try:
        replace_atomic(data, dst)
    except OSError as exc:
        raise CheckpointError(
            f"Cannot write the image encoder's weights to {dst}: {exc.strerror or exc}.",
            "Check that the folder is writable and the disk has room, then try again.",
        ) from exc
    for old in folder.glob(_NAME.format("*")):
        if old != dst:
            old.unlink(missing_ok=True)
    lean_fetch.discard(state.work)
    log.info(
        "fetched the image encoder from %s (%d bytes over the network) into %s",
        state.source,
        state.fetched,
        dst,
    )
    return dst


def fetch_encoder_whole(
    data_dir: Path | None = None,
    *,
    cancelled: Callable[[], bool] = lambda: False,
    on_bytes: Callable[[int], None] | None = None,
    **http: Any,
) -> Path:
    """The whole training checkpoint (only when the user agreed: the server sends no parts of files), read
    weights-only and checked like the lean fetch's tensors, the encoder kept as safetensors, the rest
    deleted. Returns the safetensors file; raises DownloadError, CheckpointError or Cancelled."""
    from wuerstchen_desktop.core.engine.image_encoder import convert_encoder
    from wuerstchen_desktop.core.hub.range_fetch import RemoteRanges

    folder = Path(data_dir) if data_dir is not None else appdirs.encoder_dir()
    src = RemoteRanges(
        lean_fetch.EFFNET_REPO,
        lean_fetch.EFFNET_FILE,
        folder / ".ranges",
        cancelled=cancelled,
        on_bytes=on_bytes,
        **http,
    )
    src.open()
    lean_fetch.check_room(folder, src.size)
    pt = src.whole(folder / ".whole" / lean_fetch.EFFNET_FILE)
    try:
        dst = convert_encoder(pt, folder / _NAME.format(src.identity))
    finally:
        pt.unlink(missing_ok=True)
    for old in folder.glob(_NAME.format("*")):
        if old != dst:
            old.unlink(missing_ok=True)
    log.info("fetched the whole %s for the image encoder into %s", src.what, dst)
    return dst
