"""Tiny random-weight checkpoints in the exact Hub layout of ``warp-ai/wuerstchen`` and
``warp-ai/wuerstchen-prior``: for tests and the bundle's self-test, never for pictures."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save_file
from torch import nn

from wuerstchen_desktop.core.models import StageA, StageB, StageC
from wuerstchen_desktop.core.models.config import (
    TINY_STAGE_A,
    TINY_STAGE_B,
    TINY_STAGE_C,
    StageAConfig,
    StageBConfig,
    StageCConfig,
    StageConfig,
)

DIFFUSERS_VERSION = "0.19.0.dev0"
SCHEDULER = {
    "_class_name": "DDPMWuerstchenScheduler",
    "_diffusers_version": DIFFUSERS_VERSION,
    "s": 0.008,
    "scaler": 1.0,
}
WORDS = ("a", "cat", "dog", "the", "of", "in", "red", "blue", "photo", "painting", "astronaut", "horse")


def _write_json(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def randomize(model: nn.Module, seed: int) -> None:
    """Fill every tensor with deterministic noise scaled to keep activations in a sane range."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, t in model.state_dict().items():
            if not t.is_floating_point():
                continue
            if name.endswith("running_var"):
                t.copy_(torch.rand(t.shape, generator=g) + 0.5)
            elif t.dim() >= 2:
                fan_in = t[0].numel()
                t.copy_(torch.randn(t.shape, generator=g) / fan_in**0.5)
            else:
                t.copy_(torch.randn(t.shape, generator=g) * 0.1)
        # Keep the output layers small, so predictions stay finite and the pixels mid-grey, not clipped.
        for head, bias in (("out.1", 0.0), ("clf.1", 0.0), ("out_block.0", 0.5)):
            module = dict(model.named_modules()).get(head)
            if module is not None:
                module.weight.mul_(0.05)
                module.bias.fill_(bias)


def write_stage(
    folder: Path, model_cls: type[nn.Module], config: StageConfig, class_name: str, seed: int
) -> None:
    """``config.json`` and ``diffusion_pytorch_model.safetensors`` as diffusers writes them."""
    torch.manual_seed(seed)
    model = model_cls.from_config(config)  # type: ignore[attr-defined]
    randomize(model, seed)
    folder.mkdir(parents=True, exist_ok=True)
    _write_json(
        folder / "config.json",
        {"_class_name": class_name, "_diffusers_version": DIFFUSERS_VERSION, **config.to_json()},
    )
    state = {k: v.contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(folder / "diffusion_pytorch_model.safetensors"), metadata={"format": "pt"})


def _bytes_to_unicode() -> dict[int, str]:
    bs = (
        list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), 256))
    )
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, (chr(c) for c in cs), strict=True))


def write_tokenizer(folder: Path) -> int:
    """A small working CLIP BPE tokenizer (every byte, plus merges for a few words). Returns its size."""
    from transformers import CLIPTokenizer

    chars = list(_bytes_to_unicode().values())
    vocab: dict[str, int] = {}
    for token in chars + [c + "</w>" for c in chars]:
        vocab[token] = len(vocab)
    merges: list[str] = []
    for word in WORDS:
        pieces = [*word[:-1], word[-1] + "</w>"]
        while len(pieces) > 1:
            merges.append(f"{pieces[0]} {pieces[1]}")
            pieces = [pieces[0] + pieces[1], *pieces[2:]]
            vocab.setdefault(pieces[0], len(vocab))
    merges = list(dict.fromkeys(merges))
    for marker in ("<|startoftext|>", "<|endoftext|>"):
        vocab[marker] = len(vocab)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
    (folder / "merges.txt").write_text("#version: 0.2\n" + "\n".join(merges) + "\n", encoding="utf-8")
    special: dict[str, Any] = {
        "bos_token": "<|startoftext|>",
        "eos_token": "<|endoftext|>",
        "unk_token": "<|endoftext|>",
        "pad_token": "<|endoftext|>",
    }
    _write_json(folder / "special_tokens_map.json", special)
    _write_json(
        folder / "tokenizer_config.json",
        {"tokenizer_class": "CLIPTokenizer", "model_max_length": 77, "do_lower_case": True, **special},
    )
    # The fast tokenizer's own file, as the Hub repositories also ship it.
    CLIPTokenizer.from_pretrained(str(folder)).backend_tokenizer.save(str(folder / "tokenizer.json"))
    return len(vocab)


@dataclass(frozen=True)
class TextSpec:
    """The size of a CLIP text tower to write: tiny by default, or a published one."""

    hidden: int
    layers: int = 2
    heads: int = 2
    intermediate: int | None = None  # hidden * 2 when not given
    vocab: int | None = None  # the tokenizer's size when not given


# The published text towers (ViT-bigG/14 for the prior, ViT-H/14 for the decoder).
PRIOR_TEXT = TextSpec(hidden=1280, layers=32, heads=20, intermediate=5120, vocab=49408)
DECODER_TEXT = TextSpec(hidden=1024, layers=24, heads=16, intermediate=4096, vocab=49408)


def write_text_encoder(folder: Path, tokens: int, spec: TextSpec | int, seed: int) -> None:
    """A random CLIP text tower; ``tokens`` is the tokenizer's size (its last two are the start/end marks)."""
    from transformers import CLIPTextConfig, CLIPTextModel

    spec = TextSpec(spec) if isinstance(spec, int) else spec
    config = CLIPTextConfig(
        vocab_size=spec.vocab or tokens,
        hidden_size=spec.hidden,
        intermediate_size=spec.intermediate or spec.hidden * 2,
        num_hidden_layers=spec.layers,
        num_attention_heads=spec.heads,
        max_position_embeddings=77,
        hidden_act="gelu",
        bos_token_id=tokens - 2,
        eos_token_id=tokens - 1,
        pad_token_id=tokens - 1,
    )
    torch.manual_seed(seed)
    CLIPTextModel(config).save_pretrained(str(folder))


def write_prior_model(folder: Path, seed: int = 1) -> Path:
    """A bare prior like ``warp-ai/wuerstchen-prior-model-interpolated``: config.json + safetensors."""
    write_stage(folder, StageC, TINY_STAGE_C, "WuerstchenPrior", seed)
    return folder


def write_prior_repo(
    folder: Path, seed: int = 1, *, prior: StageCConfig = TINY_STAGE_C, text: TextSpec | None = None
) -> Path:
    """A ``warp-ai/wuerstchen-prior`` with random weights: tiny by default, or at the given sizes."""
    write_stage(folder / "prior", StageC, prior, "WuerstchenPrior", seed)
    size = write_tokenizer(folder / "tokenizer")
    write_text_encoder(folder / "text_encoder", size, text or TextSpec(prior.c_cond), seed + 10)
    _write_json(folder / "scheduler" / "scheduler_config.json", SCHEDULER)
    _write_json(
        folder / "model_index.json",
        {
            "_class_name": "WuerstchenPriorPipeline",
            "_diffusers_version": DIFFUSERS_VERSION,
            "latent_mean": 42.0,
            "latent_std": 1.0,
            "resolution_multiple": 42.67,
            "prior": ["wuerstchen", "WuerstchenPrior"],
            "scheduler": ["diffusers", "DDPMWuerstchenScheduler"],
            "text_encoder": ["transformers", "CLIPTextModel"],
            "tokenizer": ["transformers", "CLIPTokenizerFast"],
        },
    )
    return folder


def write_decoder_repo(
    folder: Path,
    seed: int = 2,
    *,
    decoder: StageBConfig = TINY_STAGE_B,
    vqgan: StageAConfig = TINY_STAGE_A,
    text: TextSpec | None = None,
) -> Path:
    """A ``warp-ai/wuerstchen`` with random weights: tiny by default, or at the given sizes."""
    write_stage(folder / "decoder", StageB, decoder, "WuerstchenDiffNeXt", seed)
    write_stage(folder / "vqgan", StageA, vqgan, "PaellaVQModel", seed + 1)
    size = write_tokenizer(folder / "tokenizer")
    write_text_encoder(folder / "text_encoder", size, text or TextSpec(decoder.clip_embd), seed + 10)
    _write_json(folder / "scheduler" / "scheduler_config.json", SCHEDULER)
    _write_json(
        folder / "model_index.json",
        {
            "_class_name": "WuerstchenDecoderPipeline",
            "_diffusers_version": DIFFUSERS_VERSION,
            "latent_dim_scale": 10.67,
            "decoder": ["wuerstchen", "WuerstchenDiffNeXt"],
            "scheduler": ["diffusers", "DDPMWuerstchenScheduler"],
            "text_encoder": ["transformers", "CLIPTextModel"],
            "tokenizer": ["transformers", "CLIPTokenizerFast"],
            "vqgan": ["wuerstchen", "PaellaVQModel"],
        },
    )
    return folder


def previewer_checkpoint(model: nn.Module, seed: int = 0) -> dict[str, Any]:
    """``model`` in the layout of the demo's published previewer file: a training checkpoint of the
    Würstchen authors' scripts, the weights under ``state_dict`` beside the run's state (a real AdamW
    state after one step, the grad scaler's state, counters, a metric, the run's id)."""
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    x = torch.randn(2, 16, 3, 3, generator=torch.Generator().manual_seed(seed))
    model.eval()(x).square().mean().backward()  # eval: batch norm's statistics stay as they are
    optimizer.step()
    model.zero_grad(set_to_none=True)
    return {
        "state_dict": model.state_dict(),
        "optimizer_state_dict": optimizer.state_dict(),
        "scheduler_last_step": 100_000,
        "iter": 100_000,
        "metrics": {"ema_loss": 0.0123},
        "grad_scaler_state_dict": {
            "scale": 65536.0,
            "growth_factor": 2.0,
            "backoff_factor": 0.5,
            "growth_interval": 2000,
            "_growth_tracker": 1234,
        },
        "wandb_run_id": f"tiny{seed:04d}",
    }


def write_previewer_pt(path: Path, c_hidden: int = 32, seed: int = 0) -> Path:
    """A Stage C previewer with random weights, saved in the layout the demo publishes it in
    (``previewer_checkpoint``). Batch norm's running statistics and counters are random too, so a loader
    that dropped them would give other pixels."""
    from wuerstchen_desktop.core.models.preview_net import Previewer

    torch.manual_seed(seed)
    model = Previewer(c_hidden=c_hidden)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, t in model.state_dict().items():
            if name.endswith("num_batches_tracked"):
                t.fill_(int(torch.randint(1, 100_000, (), generator=g)))
            elif name.endswith("running_var"):
                t.copy_(torch.rand(t.shape, generator=g) + 0.5)
            elif name.endswith("running_mean"):
                t.copy_(torch.randn(t.shape, generator=g) * 0.2)
            elif t.dim() == 1 and name.endswith("weight"):  # batch norm scale
                t.copy_(1.0 + torch.randn(t.shape, generator=g) * 0.2)
            elif t.dim() == 1:
                t.copy_(torch.randn(t.shape, generator=g) * 0.1)
            else:
                t.copy_(torch.randn(t.shape, generator=g) / t[0].numel() ** 0.5)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(previewer_checkpoint(model, seed), path)
    return path


def write_previewer_space(folder: Path, c_hidden: int = 32, seed: int = 0) -> Path:
    """The demo Space ``warp-ai/Wuerstchen`` as far as the app cares: the previewer, beside files it skips."""
    from wuerstchen_desktop.core.hub.catalogue import PREVIEWER_FILE

    write_previewer_pt(folder / PREVIEWER_FILE, c_hidden, seed)
    (folder / "app.py").write_text("# the demo's Gradio app: never fetched\n", encoding="utf-8")
    (folder / "README.md").write_text("---\nsdk: gradio\n---\n", encoding="utf-8")
    return folder
