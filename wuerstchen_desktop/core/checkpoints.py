"""Where the checkpoints are: a local folder in the Hub layout, or a Hub repository in the HF cache."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from wuerstchen_desktop.core.errors import CheckpointError, OfflineError
from wuerstchen_desktop.core.loading import REDOWNLOAD_HINT, read_json
from wuerstchen_desktop.core.params import DEFAULT_DECODER_REPO, DEFAULT_PRIOR_REPO

log = logging.getLogger(__name__)

REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
# What a pipeline needs from a repository: never the pickle ``.bin`` duplicates.
ALLOW_PATTERNS = [
    "model_index.json",
    "config.json",
    "*/config.json",
    "*.safetensors",
    "*/*.safetensors",
    "*.safetensors.index.json",
    "*/*.safetensors.index.json",
    "tokenizer/*.json",
    "tokenizer/*.txt",
    "scheduler/*.json",
]


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
        return cls(s=float(data.get("s", 0.008)), scaler=float(data.get("scaler", 1.0)))


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


@dataclass(frozen=True)
class DecoderSource:
    """A folder with ``decoder/``, ``vqgan/``, ``text_encoder/`` and ``tokenizer/``."""

    ref: str
    root: Path
    sampler: SamplerConfig
    latent_dim_scale: float = 10.67


def _number(index: dict[str, Any], key: str, default: float) -> float:
    value = index.get(key, default)
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise CheckpointError(f"model_index.json: {key} must be a number, not {value!r}.", REDOWNLOAD_HINT)
    return float(value)


def resolve(ref: str, offline: bool = False) -> Path:
    """A local folder for ``ref``: the folder itself, or the repository's snapshot in the HF cache.

    Online and not yet cached, the repository is downloaded (safetensors and configs only).
    """
    path = Path(ref).expanduser()
    if path.is_dir():
        return path
    if not REPO_ID.match(ref) or path.exists():
        raise CheckpointError(
            f"No checkpoint folder at {path}.", "Check the path, or give a Hub repository id."
        )
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    try:
        return Path(snapshot_download(ref, allow_patterns=ALLOW_PATTERNS, local_files_only=True))
    except LocalEntryNotFoundError:
        if offline:
            raise OfflineError(
                f"The checkpoints of {ref} are not on this computer, and the app is offline.",
                "Run `wuerstchen-desktop download` while online, or pass a folder you already have.",
            ) from None
    try:
        return Path(snapshot_download(ref, allow_patterns=ALLOW_PATTERNS))
    except Exception as exc:  # network, auth, disk: all end in the same advice
        raise OfflineError(
            f"Could not download {ref}: {exc}",
            "Check the connection and try again, or pass a folder you already have.",
        ) from exc


def prior_source(ref: str = DEFAULT_PRIOR_REPO, offline: bool = False) -> PriorSource:
    """A prior side: a full prior repository, or a bare prior model whose text encoder comes from the
    default prior repository (the interpolated, finetuned and base priors are published that way)."""
    root = resolve(ref, offline)
    if (root / "prior").is_dir():
        index_path = root / "model_index.json"
        index = read_json(index_path) if index_path.is_file() else {}
        return PriorSource(
            ref=ref,
            prior_dir=root / "prior",
            text_root=root,
            sampler=SamplerConfig.read(root),
            latent_mean=_number(index, "latent_mean", 42.0),
            latent_std=_number(index, "latent_std", 1.0),
            resolution_multiple=_number(index, "resolution_multiple", 42.67),
        )
    if (root / "config.json").is_file():
        base = prior_source(DEFAULT_PRIOR_REPO, offline) if ref != DEFAULT_PRIOR_REPO else None
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
        )
    raise CheckpointError(
        f"{root} is not a Würstchen prior: it has neither a prior/ folder nor a config.json.",
        "Point --prior at a folder laid out like warp-ai/wuerstchen-prior.",
    )


def decoder_source(ref: str = DEFAULT_DECODER_REPO, offline: bool = False) -> DecoderSource:
    root = resolve(ref, offline)
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
        latent_dim_scale=_number(index, "latent_dim_scale", 10.67),
    )
