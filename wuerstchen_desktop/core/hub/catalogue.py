"""The published Würstchen v2 checkpoints: repositories, revisions, the exact files the app needs, sizes.

Sizes come from the published checkpoints (docs/WUERSTCHEN.md). Only the prior weights' and the
previewer's sizes are documented to the byte; every other size is an estimate (parameters x 4 bytes, or a
few kilobytes for a config) and is marked ``exact=False``: the server's reported size replaces it when a
download is planned.

No commit hash has been confirmed for these repositories, so every entry follows ``main``; the commit
actually downloaded is recorded in the cache (``refs/main`` and the snapshot folder name), and a source
built from the cache carries it, so an image can name the exact weights that made it.

``CATALOGUE`` holds the model repositories a generation needs. ``OPTIONAL`` holds what the app can do
without: the live-preview network, a single file of the official demo (a Hugging Face *Space*, not a
model repository). It is a torch training checkpoint: fetched like any file, read only with
``torch.load(weights_only=True)``, and its weights converted once to safetensors
(core/engine/live_preview.py).
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass

from wuerstchen_desktop.core.params import DEFAULT_DECODER_REPO, DEFAULT_PRIOR_REPO

# What a pipeline needs from a repository outside the catalogue: never the pickle ``.bin`` duplicates.
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

PRIOR_BYTES = 3_974_614_642  # every published prior, to the byte

# The Stage C previewer of the official demo (docs/WUERSTCHEN.md): 3,765,891 parameters, 3,769,481 tensor
# elements with batch norm's statistics. The file is a training checkpoint: the float32 weights under
# ``state_dict`` beside AdamW's two moments of every parameter, so three times their size.
PREVIEWER_REPO = "warp-ai/Wuerstchen"
PREVIEWER_REPO_TYPE = "space"
PREVIEWER_FILE = "previewer/text2img_wurstchen_b_v1_previewer_100k.pt"
PREVIEWER_BYTES = 45_244_773
PREVIEWER_SHA256 = "76e82483253b24430b20e3e0c98ec2f9aeb45f0b487f7b330bac044b5de0d6f7"  # its Git LFS oid
# The weights alone as the safetensors file the app converts them to, in its data folder.
PREVIEWER_CONVERTED_BYTES = 15_081_740


# The image encoder (image-to-image, docs/WUERSTCHEN.md): EfficientNetV2-S's features, a 1x1 convolution
# 1280 -> 16 and BatchNorm2d(16), 20,351,904 float32 numbers and 111 int64 batch counters. Published only as
# ``effnet_state_dict`` inside Stage B's training checkpoint (several GB), of which only these bytes are
# fetched (lean_fetch.py) and kept as safetensors in the app's data folder. Never part of a download plan.
ENCODER_REPO = "dome272/wuerstchen"
ENCODER_FILE = "model_v2_stage_b.pt"
ENCODER_BYTES = 81_408_504
ENCODER_LABEL = "Image encoder"
ENCODER_USE = "start from a picture (image-to-image, Vary, Upscale)"


@dataclass(frozen=True)
class CatalogueFile:
    """One file of a repository. ``required=False``: used when the repository has it (``tokenizer.json``)."""

    path: str
    size: int
    exact: bool = False
    required: bool = True
    sha256: str | None = None  # of the published file, where known


@dataclass(frozen=True)
class Checkpoint:
    """One repository the app can download, pinned to ``revision``."""

    repo_id: str
    side: str  # "prior" or "decoder"
    label: str
    description: str
    files: tuple[CatalogueFile, ...]
    revision: str = "main"
    # A bare prior model has no text encoder of its own: it uses this repository's.
    text_from: str | None = None
    repo_type: str = "model"  # or "space": the Hub's API and the cache name the two apart
    # For an optional repository: what the app does without it, said when its download fails.
    without: str = ""

    @property
    def size(self) -> int:
        return sum(f.size for f in self.files)

    @property
    def size_is_exact(self) -> bool:
        return all(f.exact for f in self.files)

    def file(self, path: str) -> CatalogueFile | None:
        return next((f for f in self.files if f.path == path), None)


def _tokenizer() -> tuple[CatalogueFile, ...]:
    return (
        CatalogueFile("tokenizer/merges.txt", 525_000),
        CatalogueFile("tokenizer/special_tokens_map.json", 1_000),
        CatalogueFile("tokenizer/tokenizer_config.json", 1_000),
        CatalogueFile("tokenizer/vocab.json", 862_000),
        CatalogueFile("tokenizer/tokenizer.json", 2_200_000, required=False),
    )


def _bare_prior(repo_id: str, label: str, description: str) -> Checkpoint:
    return Checkpoint(
        repo_id=repo_id,
        side="prior",
        label=label,
        description=description,
        files=(
            CatalogueFile("config.json", 1_000),
            CatalogueFile("diffusion_pytorch_model.safetensors", PRIOR_BYTES, exact=True),
        ),
        text_from=DEFAULT_PRIOR_REPO,
    )


DECODER = Checkpoint(
    repo_id=DEFAULT_DECODER_REPO,
    side="decoder",
    label="Würstchen decoder",
    description="Stage B, Stage A (VQGAN) and the ViT-H/14 text encoder",
    files=(
        CatalogueFile("model_index.json", 1_000),
        CatalogueFile("decoder/config.json", 1_000),
        CatalogueFile("decoder/diffusion_pytorch_model.safetensors", 4_221_500_000),
        CatalogueFile("vqgan/config.json", 1_000),
        CatalogueFile("vqgan/diffusion_pytorch_model.safetensors", 73_700_000),
        CatalogueFile("text_encoder/config.json", 1_000),
        CatalogueFile("text_encoder/model.safetensors", 1_412_000_000),
        *_tokenizer(),
        CatalogueFile("scheduler/scheduler_config.json", 1_000),
    ),
)

PRIOR = Checkpoint(
    repo_id=DEFAULT_PRIOR_REPO,
    side="prior",
    label="Würstchen prior",
    description="Stage C (the interpolated prior) and the ViT-bigG/14 text encoder",
    files=(
        CatalogueFile("model_index.json", 1_000),
        CatalogueFile("prior/config.json", 1_000),
        CatalogueFile("prior/diffusion_pytorch_model.safetensors", PRIOR_BYTES, exact=True),
        CatalogueFile("text_encoder/config.json", 1_000),
        CatalogueFile("text_encoder/model.safetensors", 2_772_200_000),
        *_tokenizer(),
        CatalogueFile("scheduler/scheduler_config.json", 1_000),
    ),
)

PREVIEWER = Checkpoint(
    repo_id=PREVIEWER_REPO,
    side="previewer",
    label="Live preview model",
    description="the Stage C previewer of the official demo (optional)",
    files=(CatalogueFile(PREVIEWER_FILE, PREVIEWER_BYTES, exact=True, sha256=PREVIEWER_SHA256),),
    repo_type=PREVIEWER_REPO_TYPE,
    without="live previews will be approximate (the layout only, not the colours)",
)

CATALOGUE: dict[str, Checkpoint] = {
    c.repo_id: c
    for c in (
        DECODER,
        PRIOR,
        _bare_prior(
            "warp-ai/wuerstchen-prior-model-finetuned", "Finetuned prior", "the aesthetic finetune of Stage C"
        ),
        _bare_prior("warp-ai/wuerstchen-prior-model-base", "Base prior", "Stage C before finetuning"),
        _bare_prior(
            "warp-ai/wuerstchen-prior-model-interpolated",
            "Interpolated prior",
            "byte-identical to the prior in warp-ai/wuerstchen-prior",
        ),
    )
}


# What a download fetches too when asked, and what the app runs without: never in ``repos_needed``.
OPTIONAL: dict[str, Checkpoint] = {PREVIEWER.repo_id: PREVIEWER}


def lookup(repo_id: str, repo_type: str = "model") -> Checkpoint | None:
    if repo_type == "model":
        return CATALOGUE.get(repo_id)
    entry = OPTIONAL.get(repo_id)
    return entry if entry is not None and entry.repo_type == repo_type else None


def revision_for(repo_id: str, repo_type: str = "model") -> str:
    entry = lookup(repo_id, repo_type)
    return entry.revision if entry is not None else "main"


def repos_needed(prior: str = DEFAULT_PRIOR_REPO, decoder: str = DEFAULT_DECODER_REPO) -> list[str]:
    """Every repository a prior and a decoder need, in download order: a bare prior brings its text side."""
    repos = [prior]
    entry = CATALOGUE.get(prior)
    if entry is not None and entry.text_from is not None:
        repos.append(entry.text_from)
    repos.append(decoder)
    return list(dict.fromkeys(repos))


def wanted(repo_id: str, remote_paths: list[str], repo_type: str = "model") -> tuple[list[str], list[str]]:
    """``(paths to fetch, required paths the server lacks)`` for a repository's file listing."""
    entry = lookup(repo_id, repo_type)
    if entry is None:
        picked = [p for p in remote_paths if any(fnmatch.fnmatch(p, pat) for pat in ALLOW_PATTERNS)]
        return sorted(p for p in picked if not p.endswith(".bin")), []
    remote = set(remote_paths)
    paths = [f.path for f in entry.files if f.path in remote]
    missing = [f.path for f in entry.files if f.required and f.path not in remote]
    return paths, missing
