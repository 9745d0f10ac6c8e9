"""Prompt text to CLIP hidden states, as the reference does: 77 tokens, attention mask passed; weighted
prompts (prompt_weights.py) as A1111 weights them: each token's hidden state times its weight, then the
whole rescaled to the unweighted mean."""

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
from wuerstchen_desktop.core.engine.prompt_weights import NONE, parse
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
        # Keyed by (weighting, prompt); a weighted prompt whose weights are all 1 is its words unweighted.
        self.cache: OrderedDict[tuple[str, str], torch.Tensor] = OrderedDict()
        self.cache_size = cache_size
        limit = getattr(self.tokenizer, "model_max_length", MAX_TOKENS)
        self.max_length = limit if isinstance(limit, int) and 0 < limit <= MAX_TOKENS else MAX_TOKENS

    @property
    def model(self) -> nn.Module:
        return self.slot.get()

    @property
    def dtype(self) -> torch.dtype:
        return self._dtype

    def count_tokens(self, prompt: str, weighting: str = NONE) -> int:
        """Tokens in ``prompt`` including the start and end markers (the limit is ``max_length``); under a
        weighting, brackets and weights are not tokens."""
        if weighting == NONE:
            return len(self.tokenizer(valid_text(prompt), truncation=False)["input_ids"])
        return len(self._weighted_ids(prompt, weighting)[0]) + 2

    def truncations(self, prompts: Sequence[str], weighting: str = NONE) -> list[Truncation]:
        out = []
        for prompt in dict.fromkeys(prompts):
            if weighting == NONE:
                ids = self.tokenizer(valid_text(prompt), truncation=False)["input_ids"]
                dropped = ids[self.max_length - 1 : -1]
            else:
                ids = self._weighted_ids(prompt, weighting)[0]
                dropped = ids[self.max_length - 2 :]
                ids = [*ids, 0, 0]  # the start and end markers, for the count
            if len(ids) > self.max_length:
                text = self.tokenizer.decode(dropped, skip_special_tokens=True)
                out.append(Truncation(prompt, len(ids), len(dropped), text))
        return out

    def _key(self, prompt: str, weighting: str) -> tuple[str, str]:
        if weighting == NONE:
            return NONE, prompt
        found = parse(valid_text(prompt), weighting)
        return (NONE, found.text) if found.plain else (weighting, prompt)

    def _weighted_ids(self, prompt: str, weighting: str) -> tuple[list[int], list[float]]:
        """The prompt's token ids without start and end markers, and each token's weight: each part is
        tokenized on its own, as A1111 does."""
        ids: list[int] = []
        weights: list[float] = []
        for text, weight in parse(valid_text(prompt), weighting).parts:
            part = self.tokenizer(text, add_special_tokens=False, truncation=False)["input_ids"]
            ids += part
            weights += [weight] * len(part)
        return ids, weights

    @torch.inference_mode()
    def encode(self, prompts: Sequence[str], weighting: str | Sequence[str] = NONE) -> torch.Tensor:
        """``(len(prompts), 77, hidden)`` last hidden states, the attention mask applied; ``weighting`` for
        all prompts, or one for each."""
        weightings = [weighting] * len(prompts) if isinstance(weighting, str) else list(weighting)
        keys = [self._key(p, w) for p, w in zip(prompts, weightings, strict=True)]
        missing = [k for k in dict.fromkeys(keys) if k not in self.cache]
        plain = [prompt for w, prompt in missing if w == NONE]
        if plain:
            batch = self.tokenizer(
                [valid_text(p) for p in plain],
                padding="max_length",
                max_length=self.max_length,
                truncation=True,
                return_tensors="pt",
            )
            out = self.model(
                batch["input_ids"].to(self.device), attention_mask=batch["attention_mask"].to(self.device)
            )
            for prompt, hidden in zip(plain, out.last_hidden_state, strict=True):
                self.cache[NONE, prompt] = hidden
        weighted = [k for k in missing if k[0] != NONE]
        if weighted:
            self._encode_weighted(weighted)
        for key in keys:
            self.cache.move_to_end(key)
        rows = torch.stack([self.cache[k] for k in keys])
        while len(self.cache) > self.cache_size:
            self.cache.popitem(last=False)
        return rows

    def _encode_weighted(self, keys: Sequence[tuple[str, str]]) -> None:
        tok = self.tokenizer
        ids, masks, weights = [], [], []
        for weighting, prompt in keys:
            part_ids, part_weights = self._weighted_ids(prompt, weighting)
            keep = self.max_length - 2
            row = [tok.bos_token_id, *part_ids[:keep], tok.eos_token_id]
            pad = self.max_length - len(row)
            ids.append(row + [tok.pad_token_id] * pad)
            masks.append([1] * len(row) + [0] * pad)
            weights.append([1.0, *part_weights[:keep], 1.0] + [1.0] * pad)
        out = self.model(
            torch.tensor(ids, device=self.device), attention_mask=torch.tensor(masks, device=self.device)
        )
        for key, hidden, w in zip(keys, out.last_hidden_state, weights, strict=True):
            self.cache[key] = emphasised(hidden, torch.tensor(w, device=hidden.device))

    def done(self) -> None:
        """The prompts of this job are encoded: the memory mode decides whether the model stays."""
        self.slot.done()


def emphasised(hidden: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """A1111's emphasis: ``(tokens, width)`` hidden states each times its token's weight, then all rescaled
    so their mean is the unweighted mean (A1111: "prevents artifacts that happen otherwise")."""
    z = hidden.float()
    weighted = z * weights.float()[:, None]
    new_mean = weighted.mean()
    if new_mean != 0:  # a mean of exactly 0 would divide by zero; nothing to restore then
        weighted = weighted * (z.mean() / new_mean)
    return weighted.to(hidden.dtype)
