"""Where the checkpoints are: a local folder in the Hub layout, or a Hub repository in the HF cache."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from wuerstchen_desktop.core.engine.loading import (
    REDOWNLOAD_HINT,
    count_params,
    invalid_config,
    read_json,
    weight_files,
)
from wuerstchen_desktop.core.errors import CheckpointError, OfflineError
from wuerstchen_desktop.core.hub import cache_layout
from wuerstchen_desktop.core.hub.catalogue import ALLOW_PATTERNS as ALLOW_PATTERNS
from wuerstchen_desktop.core.models.config import ConfigFieldError, number
from wuerstchen_desktop.core.params import DEFAULT_DECODER_REPO, DEFAULT_PRIOR_REPO

if TYPE_CHECKING:
    from wuerstchen_desktop.core.hub.download import CancelToken, ProgressCallback
    from wuerstchen_desktop.core.models import StageBConfig, StageCConfig

log = logging.getLogger(__name__)

REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


@dataclass(frozen=True)
class SamplerConfig:
    s: float = 0.008
    scaler: float = 1.0

    @classmethod
    def read(cls, root: Path) -> SamplerConfig:
        path = root / "scheduler" / "scheduler_config.json"
        if not path.is_file():
            return cls()
        data = read_json(path)
        try:
            s = number("s", data.get("s", 0.008), 0, 1, above_low=True)
            scaler = number("scaler", data.get("scaler", 1.0), 0, 100, above_low=True)
        except ConfigFieldError as exc:
            raise invalid_config(path, exc) from exc
        return cls(s=s, scaler=scaler)


@dataclass(frozen=True)
class PriorSource:
    """Stage C weights, and the folder holding the prior's ``tokenizer/`` and ``text_encoder/``."""

    ref: str
    prior_dir: Path
    text_root: Path
    sampler: SamplerConfig
    latent_mean: float = 42.0
    latent_std: float = 1.0
    resolution_multiple: float = 42.67
    commit: str | None = None  # the Hub commit of the prior weights, when they came from the cache

    def weights_sha256(self) -> str | None:
        """The prior weights' sha256 when the Hugging Face cache already names the file by it (no hashing)."""
        target = (self.prior_dir / "diffusion_pytorch_model.safetensors").resolve()
        return target.name if re.fullmatch(r"[0-9a-f]{64}", target.name) else None


@dataclass(frozen=True)
class DecoderSource:
    """A folder with ``decoder/``, ``vqgan/``, ``text_encoder/`` and ``tokenizer/``."""

    ref: str
    root: Path
    sampler: SamplerConfig
    latent_dim_scale: float = 10.67
    commit: str | None = None  # the Hub commit, when the folder came from the cache


# model_index.json's numbers: (default, low, high), published values in the middle. The geometry ones
# set the latent sizes, so a tiny or huge value would make a job fill the memory.
INDEX_NUMBERS = {
    "latent_mean": (42.0, 0.01, 10_000.0),
    "latent_std": (1.0, -10_000.0, 10_000.0),
    "resolution_multiple": (42.67, 8.0, 256.0),
    "latent_dim_scale": (10.67, 1.0, 64.0),
}


def _number(index: dict[str, Any], key: str, path: Path) -> float:
    default, low, high = INDEX_NUMBERS[key]
    try:
        return number(key, index.get(key, default), low, high)
    except ConfigFieldError as exc:
        raise invalid_config(path, exc) from exc


def commit_of(folder: Path) -> str | None:
    """The commit a Hugging Face cache snapshot folder holds (``.../snapshots/<commit>``), else None."""
    parts = folder.resolve().parts
    if len(parts) >= 2 and parts[-2] == "snapshots" and cache_layout.COMMIT.match(parts[-1]):
        return parts[-1]
    return None


def resolve(
    ref: str,
    offline: bool = False,
    *,
    on_progress: ProgressCallback | None = None,
    cancel: CancelToken = None,
    cache_dir: Path | None = None,
) -> Path:
    """A local folder for ``ref``: the folder itself, or the repository's snapshot in the Hub cache
    ``cache_dir`` (None: huggingface_hub's own).

    A complete snapshot on disk is used without touching the network. Otherwise, online, the repository is
    downloaded (the catalogue's files, or safetensors and configs only): resumable and verified.
    """
    path = Path(ref).expanduser()
    if path.is_dir():
        return path
    if not REPO_ID.match(ref) or path.exists():
        raise CheckpointError(
            f"No checkpoint folder at {path}.", "Check the path, or give a Hub repository id."
        )
    local = cache_layout.local_snapshot(ref, cache_dir=cache_dir)
    if local is not None:
        return local
    from huggingface_hub import constants

    if offline or constants.is_offline_mode():
        partial = cache_layout.local_status(ref, cache_dir=cache_dir)
        state = "are only partly on this computer" if partial.files or partial.partial_bytes else "are not on"
        raise OfflineError(
            f"The checkpoints of {ref} {state}{'' if partial.files else ' this computer'}, and the app is "
            "offline.",
            "Run `wuerstchen-desktop download` while online, or use a folder you already have "
            "(--prior/--decoder FOLDER).",
        )
    from wuerstchen_desktop.core.hub.download import ensure

    return ensure([ref], cache_dir=cache_dir, on_progress=on_progress, cancel=cancel)[0]


def verify_prior(source: PriorSource) -> StageCConfig:
    """Everything loading the prior side would refuse, found from configs and file headers alone."""
    from wuerstchen_desktop.core.engine.loading import check_stage
    from wuerstchen_desktop.core.engine.text import text_width
    from wuerstchen_desktop.core.models import StageC, StageCConfig

    _verify_text(source.text_root)
    prior = check_stage(StageC, StageCConfig, source.prior_dir)
    text = source.text_root / "text_encoder"
    _same(source.prior_dir, "c_cond", prior.c_cond, text, "hidden_size", text_width(text))
    return prior


def verify_decoder(source: DecoderSource) -> StageBConfig:
    """Everything loading the decoder side would refuse, found from configs and file headers alone."""
    from wuerstchen_desktop.core.engine.loading import check_stage
    from wuerstchen_desktop.core.engine.text import text_width
    from wuerstchen_desktop.core.models import StageA, StageAConfig, StageB, StageBConfig

    _verify_text(source.root)
    decoder = check_stage(StageB, StageBConfig, source.root / "decoder")
    vqgan = check_stage(StageA, StageAConfig, source.root / "vqgan")
    text = source.root / "text_encoder"
    _same(source.root / "decoder", "clip_embd", decoder.clip_embd, text, "hidden_size", text_width(text))
    for name in ("c_in", "c_out"):
        width = getattr(decoder, name)
        _same(
            source.root / "decoder",
            name,
            width,
            source.root / "vqgan",
            "latent_channels",
            vqgan.latent_channels,
        )
    return decoder


def verify_pair(prior: PriorSource, decoder: DecoderSource) -> None:
    """Each side on its own, then the one size they share: Stage C's channels are Stage B's input."""
    c, b = verify_prior(prior), verify_decoder(decoder)
    if c.c_in != b.effnet_embd:
        raise CheckpointError(
            f"The prior {prior.ref} composes {c.c_in}-channel latents, but the decoder {decoder.ref} takes "
            f"{b.effnet_embd} (effnet_embd): they are not parts of one model.",
            "Choose a prior and a decoder made for each other (the defaults are).",
        )


def _same(folder: Path, name: str, value: int, other: Path, other_name: str, other_value: int) -> None:
    """Two parts that feed each other agree on the size between them."""
    if value != other_value:
        raise CheckpointError(
            f"{folder / 'config.json'} gives {name} {value}, but {other / 'config.json'} gives {other_name} "
            f"{other_value}: these files are not parts of one model.",
            REDOWNLOAD_HINT,
        )


def _verify_text(root: Path) -> None:
    from wuerstchen_desktop.core.engine.text import check_text_model, check_tokenizer

    check_tokenizer(root / "tokenizer")
    check_text_model(root / "text_encoder")


def import_folder(folder: Path | str, cache_dir: Path | None = None) -> PriorSource | DecoderSource:
    """Check a folder in the Hub layout (a copy of another computer's download, or a snapshot of a Hugging
    Face cache) from its configs and file headers, and return it as a source the pipeline can use.

    Accepts a repository folder, a cache snapshot folder, or a cache ``models--owner--name`` folder. A bare
    prior model takes its text encoder from the default prior in the Hub cache ``cache_dir``.
    """
    root = Path(folder).expanduser()
    if root.name.startswith("models--") and (root / "snapshots").is_dir():
        commit = cache_layout.read_ref(root, "main")
        snapshots = sorted((root / "snapshots").iterdir())
        root = root / "snapshots" / commit if commit else (snapshots[-1] if snapshots else root)
    if not root.is_dir():
        raise CheckpointError(f"No folder at {root}.", "Choose the folder that holds the checkpoints.")
    if (root / "decoder").is_dir():
        decoder = decoder_source(str(root))
        verify_decoder(decoder)
        return decoder
    if (root / "prior").is_dir() or (root / "config.json").is_file():
        prior = prior_source(str(root), offline=True, cache_dir=cache_dir)
        verify_prior(prior)
        return prior
    raise CheckpointError(
        f"{root} holds no Würstchen checkpoints: it has no decoder/ or prior/ folder and no config.json.",
        "Choose a folder laid out like warp-ai/wuerstchen or warp-ai/wuerstchen-prior (a copy of a "
        "download, or a snapshot folder of a Hugging Face cache).",
    )


def import_folders(folder: Path | str, cache_dir: Path | None = None) -> dict[str, str]:
    """``{"prior": folder, "decoder": folder}`` for a checkpoint folder (one side) or for a folder that
    holds both side by side (two copies of downloads, or a Hugging Face cache), each checked by
    ``import_folder``. Raises the error of the first that failed when none is a checkpoint."""
    root = Path(folder).expanduser()
    try:
        return {_side(import_folder(root, cache_dir)): str(root)}
    except CheckpointError as exc:
        first = exc
    found: dict[str, str] = {}
    children = (
        sorted(c for c in root.iterdir() if c.is_dir() and not c.name.startswith("."))
        if root.is_dir()
        else []
    )
    for child in children:
        try:
            found.setdefault(_side(import_folder(child, cache_dir)), str(child))
        except CheckpointError as exc:
            log.info("%s is not a checkpoint folder: %s", child, exc)
    if not found:
        raise first
    return found


def _side(source: PriorSource | DecoderSource) -> str:
    return "decoder" if isinstance(source, DecoderSource) else "prior"


def prior_source(
    ref: str = DEFAULT_PRIOR_REPO,
    offline: bool = False,
    *,
    on_progress: ProgressCallback | None = None,
    cancel: CancelToken = None,
    cache_dir: Path | None = None,
) -> PriorSource:
    """A prior side: a full prior repository, or a bare prior model whose text encoder comes from the
    default prior repository (the interpolated, finetuned and base priors are published that way)."""
    root = resolve(ref, offline, on_progress=on_progress, cancel=cancel, cache_dir=cache_dir)
    if (root / "prior").is_dir():
        index_path = root / "model_index.json"
        index = read_json(index_path) if index_path.is_file() else {}
        return PriorSource(
            ref=ref,
            prior_dir=root / "prior",
            text_root=root,
            sampler=SamplerConfig.read(root),
            latent_mean=_number(index, "latent_mean", index_path),
            latent_std=_number(index, "latent_std", index_path),
            resolution_multiple=_number(index, "resolution_multiple", index_path),
            commit=commit_of(root),
        )
    if (root / "config.json").is_file():
        base = (
            prior_source(
                DEFAULT_PRIOR_REPO, offline, on_progress=on_progress, cancel=cancel, cache_dir=cache_dir
            )
            if ref != DEFAULT_PRIOR_REPO
            else None
        )
        if base is None:
            raise CheckpointError(f"{root} has no prior/ folder.", REDOWNLOAD_HINT)
        return PriorSource(
            ref=ref,
            prior_dir=root,
            text_root=base.text_root,
            sampler=base.sampler,
            latent_mean=base.latent_mean,
            latent_std=base.latent_std,
            resolution_multiple=base.resolution_multiple,
            commit=commit_of(root),
        )
    raise CheckpointError(
        f"{root} is not a Würstchen prior: it has neither a prior/ folder nor a config.json.",
        "Point --prior at a folder laid out like warp-ai/wuerstchen-prior.",
    )


def decoder_source(
    ref: str = DEFAULT_DECODER_REPO,
    offline: bool = False,
    *,
    on_progress: ProgressCallback | None = None,
    cancel: CancelToken = None,
    cache_dir: Path | None = None,
) -> DecoderSource:
    root = resolve(ref, offline, on_progress=on_progress, cancel=cancel, cache_dir=cache_dir)
    if not (root / "decoder").is_dir():
        raise CheckpointError(
            f"{root} is not a Würstchen decoder: it has no decoder/ folder.",
            "Point --decoder at a folder laid out like warp-ai/wuerstchen.",
        )
    index_path = root / "model_index.json"
    index = read_json(index_path) if index_path.is_file() else {}
    return DecoderSource(
        ref=ref,
        root=root,
        sampler=SamplerConfig.read(root),
        latent_dim_scale=_number(index, "latent_dim_scale", index_path),
        commit=commit_of(root),
    )


def checkpoint_params(prior: PriorSource, decoder: DecoderSource) -> dict[str, int]:
    """Each model's parameter count, read from the file headers: what ``devices.choose`` sizes memory by."""
    folders = {
        "prior": (prior.prior_dir, "diffusion_pytorch_model"),
        "decoder": (decoder.root / "decoder", "diffusion_pytorch_model"),
        "vqgan": (decoder.root / "vqgan", "diffusion_pytorch_model"),
        "prior_text": (prior.text_root / "text_encoder", "model"),
        "decoder_text": (decoder.root / "text_encoder", "model"),
    }
    return {name: count_params(weight_files(folder, stem)) for name, (folder, stem) in folders.items()}
