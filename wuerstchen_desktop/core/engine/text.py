"""Prompt text to CLIP hidden states, as the reference does: 77 tokens, attention mask passed."""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from torch import nn

from wuerstchen_desktop.core.engine.loading import REDOWNLOAD_HINT, invalid_config, read_json, weight_files
from wuerstchen_desktop.core.engine.residency import Slot
from wuerstchen_desktop.core.errors import CheckpointError
from wuerstchen_desktop.core.models.config import MAX_CHANNELS, MAX_DEPTH, ConfigFieldError, whole
from wuerstchen_desktop.core.params import valid_text

log = logging.getLogger(__name__)

MAX_TOKENS = 77


@dataclass(frozen=True)
class Truncation:
    """A prompt that was longer than the encoder takes."""

    prompt: str
    tokens: int
    dropped_tokens: int
    dropped_text: str

    def message(self) -> str:
        return (
            f"The prompt is {self.tokens - 2} tokens long; only {MAX_TOKENS - 2} fit, so the last "
            f"{self.dropped_tokens} were left out: \u201c{self.dropped_text}\u201d."
        )


def _quiet_transformers() -> None:
    """Progress bars and advice from transformers are noise in an app; our own progress is shown."""
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()


def check_tokenizer(folder: Path) -> None:
    if not folder.is_dir():
        raise CheckpointError(f"Missing tokenizer folder {folder}.", REDOWNLOAD_HINT)
    has_files = (folder / "tokenizer.json").is_file() or (
        (folder / "vocab.json").is_file() and (folder / "merges.txt").is_file()
    )
    if not has_files:
        raise CheckpointError(
            f"{folder} has no tokenizer files (tokenizer.json or vocab.json + merges.txt).", REDOWNLOAD_HINT
        )


MAX_VOCAB = 2**20
MAX_TEXT_PARAMS = 20_000_000_000
# The CLIP text tower's sizes as transformers reads them from config.json (defaults: transformers' own),
# with bounds that admit every CLIP text tower published (bigG: 1280 wide, 32 layers) many times over.
TEXT_SIZES = {
    "hidden_size": (512, 1, MAX_CHANNELS),
    "num_hidden_layers": (12, 1, MAX_DEPTH),
    "num_attention_heads": (8, 1, MAX_CHANNELS),
    "intermediate_size": (2048, 1, 4 * MAX_CHANNELS),
    "vocab_size": (49408, 1, MAX_VOCAB),
    "max_position_embeddings": (77, MAX_TOKENS, 8192),
}


def _text_part(data: dict[str, Any]) -> dict[str, Any]:
    if data.get("model_type") == "clip" and isinstance(data.get("text_config"), dict):
        return data["text_config"]  # a whole CLIP config: transformers reads its text part
    return data


def text_width(folder: Path) -> int:
    """The hidden size of the (checked) text encoder in ``folder``: the width of what it gives."""
    return int(_text_part(read_json(folder / "config.json")).get("hidden_size", TEXT_SIZES["hidden_size"][0]))


def check_text_config(path: Path, data: dict[str, Any]) -> None:
    """Refuse a text encoder config whose sizes are damaged or absurd, before transformers builds it."""
    data = _text_part(data)
    try:
        sizes = {k: whole(k, data.get(k, d), low, high) for k, (d, low, high) in TEXT_SIZES.items()}
        h, heads = sizes["hidden_size"], sizes["num_attention_heads"]
        if h % heads:
            raise ConfigFieldError(
                "num_attention_heads", heads, f"a whole number that divides hidden_size ({h})"
            )
    except ConfigFieldError as exc:
        raise invalid_config(path, exc) from exc
    # Embeddings, then per layer: attention (4 h x h), MLP (2 h x intermediate), norms and biases.
    layer = 4 * h * h + 2 * h * sizes["intermediate_size"] + 9 * h + sizes["intermediate_size"]
    count = (sizes["vocab_size"] + sizes["max_position_embeddings"]) * h + sizes["num_hidden_layers"] * layer
    if count > MAX_TEXT_PARAMS:
        raise CheckpointError(
            f"{path} describes a text encoder of {count / 1e9:,.0f} billion parameters, more than the "
            f"{MAX_TEXT_PARAMS / 1e9:.0f} billion any CLIP text encoder has: the config is damaged.",
            REDOWNLOAD_HINT,
        )


def check_text_model(folder: Path) -> None:
    """The text encoder's config is sane and its safetensors header readable; pickle-only folders are
    refused."""
    check_text_config(folder / "config.json", read_json(folder / "config.json"))
    for path in weight_files(folder, "model"):
        try:
            with safe_open(str(path), framework="pt", device="cpu") as f:
                f.keys()
        except (SafetensorError, OSError) as exc:
            raise CheckpointError(f"{path} is damaged or incomplete ({exc}).", REDOWNLOAD_HINT) from exc


def load_tokenizer(folder: Path):  # -> CLIPTokenizer (the tokenizers-backed fast tokenizer)
    from transformers import CLIPTokenizer

    _quiet_transformers()
    check_tokenizer(folder)
    try:
        return CLIPTokenizer.from_pretrained(str(folder), local_files_only=True)
    except Exception as exc:  # transformers raises many kinds here
        raise CheckpointError(f"Cannot load the tokenizer in {folder}: {exc}.", REDOWNLOAD_HINT) from exc


def load_text_model(folder: Path, dtype: torch.dtype, device: torch.device | str) -> nn.Module:
    from transformers import CLIPTextModel

    _quiet_transformers()
    check_text_model(folder)  # refuses pickle-only folders before transformers sees them
    try:
        model = CLIPTextModel.from_pretrained(
            str(folder), dtype=dtype, use_safetensors=True, local_files_only=True
        )
    except Exception as exc:  # transformers raises many kinds here
        raise CheckpointError(f"Cannot load the text encoder in {folder}: {exc}.", REDOWNLOAD_HINT) from exc
    return model.to(device).eval().requires_grad_(False)  # type: ignore[arg-type]


class TextEncoder:
    """A CLIP tokenizer and text tower from one side's ``tokenizer/`` and ``text_encoder/`` folders.

    The tokenizer loads at once (token counts need no model); the text tower loads on the first ``encode``
    and lives by the memory mode's rule. Encoded prompts are cached, so a new seed or a changed setting
    with the same prompt skips the text tower, and in low memory mode never reads it from disk again.
    """

    def __init__(
        self,
        root: Path,
        dtype: torch.dtype,
        device: torch.device | str,
        memory: str = "high",
        cache_size: int = 32,
    ) -> None:
        self.tokenizer = load_tokenizer(root / "tokenizer")
        self.device = torch.device(device)
        self._dtype = dtype
        folder = root / "text_encoder"
        check_text_model(folder)
        self.slot: Slot[nn.Module] = Slot(
            f"text encoder {root.name}", lambda dev: load_text_model(folder, dtype, dev), self.device, memory
        )
        self.cache: OrderedDict[str, torch.Tensor] = OrderedDict()
        self.cache_size = cache_size
        limit = getattr(self.tokenizer, "model_max_length", MAX_TOKENS)
        self.max_length = limit if isinstance(limit, int) and 0 < limit <= MAX_TOKENS else MAX_TOKENS

    @property
    def model(self) -> nn.Module:
        return self.slot.get()

    @property
    def dtype(self) -> torch.dtype:
        return self._dtype

    def count_tokens(self, prompt: str) -> int:
        """Tokens in ``prompt`` including the start and end markers (the limit is ``max_length``)."""
        return len(self.tokenizer(valid_text(prompt), truncation=False)["input_ids"])

    def truncations(self, prompts: Sequence[str]) -> list[Truncation]:
        out = []
        for prompt in dict.fromkeys(prompts):
            ids = self.tokenizer(valid_text(prompt), truncation=False)["input_ids"]
            if len(ids) > self.max_length:
                dropped = ids[self.max_length - 1 : -1]
                text = self.tokenizer.decode(dropped, skip_special_tokens=True)
                out.append(Truncation(prompt, len(ids), len(dropped), text))
        return out

    @torch.inference_mode()
    def encode(self, prompts: Sequence[str]) -> torch.Tensor:
        """``(len(prompts), 77, hidden)`` last hidden states, the attention mask applied."""
        missing = [p for p in dict.fromkeys(prompts) if p not in self.cache]
        if missing:
            batch = self.tokenizer(
                [valid_text(p) for p in missing],
                padding="max_length",
                max_length=self.max_length,
                truncation=True,
                return_tensors="pt",
            )
            out = self.model(
                batch["input_ids"].to(self.device), attention_mask=batch["attention_mask"].to(self.device)
            )
            for prompt, hidden in zip(missing, out.last_hidden_state, strict=True):
                self.cache[prompt] = hidden
        for prompt in prompts:
            self.cache.move_to_end(prompt)
        rows = torch.stack([self.cache[p] for p in prompts])
        while len(self.cache) > self.cache_size:
            self.cache.popitem(last=False)
        return rows

    def done(self) -> None:
        """The prompts of this job are encoded: the memory mode decides whether the model stays."""
        self.slot.done()
