"""Damaged or hostile config.json files are refused before any module is built, naming the file, the field,
the value and what is expected: never a traceback, never a model that fills the memory."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from wuerstchen_desktop.core.engine.loading import check_stage, read_json
from wuerstchen_desktop.core.engine.text import check_text_config, check_text_model
from wuerstchen_desktop.core.errors import CheckpointError
from wuerstchen_desktop.core.models import StageA, StageAConfig, StageB, StageBConfig, StageC, StageCConfig
from wuerstchen_desktop.core.models.config import TINY_STAGE_A, TINY_STAGE_B, TINY_STAGE_C

NAN, INF = float("nan"), float("inf")
DEEP: Any = 7
for _ in range(200):
    DEEP = [DEEP]

STAGES = {
    "prior": (StageC, StageCConfig, ("wuerstchen-prior", "prior")),
    "decoder": (StageB, StageBConfig, ("wuerstchen", "decoder")),
    "vqgan": (StageA, StageAConfig, ("wuerstchen", "vqgan")),
}

# (stage, field set, value, field the message names): sizes are the tiny configs' (c=32, c_hidden=8..16).
HOSTILE = [
    ("prior", "depth", 10**9, "depth"),
    ("prior", "depth", -3, "depth"),
    ("prior", "depth", "32", "depth"),
    ("prior", "depth", 2.0, "depth"),
    ("prior", "depth", True, "depth"),
    ("prior", "depth", None, "depth"),
    ("prior", "nhead", 0, "nhead"),
    ("prior", "nhead", 7, "nhead"),
    ("prior", "c", 10**6, "c"),
    ("prior", "c", [32], "c"),
    ("prior", "c", {"c": 32}, "c"),
    ("prior", "c_in", DEEP, "c_in"),
    ("prior", "c_r", 2, "c_r"),
    ("prior", "dropout", NAN, "dropout"),
    ("prior", "dropout", INF, "dropout"),
    ("prior", "dropout", -0.5, "dropout"),
    ("decoder", "c_hidden", [8, 16, 16, 10**9], "c_hidden[3]"),
    ("decoder", "c_hidden", [], "c_hidden"),
    ("decoder", "c_hidden", "8,16,16,16", "c_hidden"),
    ("decoder", "c_hidden", [8, 16], "level_config"),
    ("decoder", "c_hidden", [8] * 100, "c_hidden"),
    ("decoder", "nhead", [-1, 2, 2, 0], "nhead[3]"),
    ("decoder", "nhead", [-1, 2, 2, 3], "nhead[3]"),
    ("decoder", "nhead", [-1, 2], "nhead"),
    ("decoder", "blocks", [1, 1, 1, 10**9], "blocks[3]"),
    ("decoder", "blocks", [1, 1, 1], "blocks"),
    ("decoder", "blocks", [100, 100, 100, 100], "blocks"),
    ("decoder", "blocks", [1, 1, 1, False], "blocks[3]"),
    ("decoder", "level_config", ["CT", "CTA", "CTA", "CTX"], "level_config[3]"),
    ("decoder", "level_config", ["CT", "CTA", "CTA", 3], "level_config[3]"),
    ("decoder", "inject_effnet", [0, 1, 1, 1], "inject_effnet[0]"),
    ("decoder", "kernel_size", 4, "kernel_size"),
    ("decoder", "kernel_size", 10**6 + 1, "kernel_size"),
    ("decoder", "patch_size", 0, "patch_size"),
    ("decoder", "dropout", [0.1], "dropout"),
    ("decoder", "dropout", [0.1, 0.1, 0.1, NAN], "dropout[3]"),
    ("decoder", "clip_embd", -24, "clip_embd"),
    ("vqgan", "levels", 10**6, "levels"),
    ("vqgan", "levels", 6, "levels"),  # embed_dim 16 halves to nothing at the sixth level
    ("vqgan", "levels", 0, "levels"),
    ("vqgan", "num_vq_embeddings", 10**12, "num_vq_embeddings"),
    ("vqgan", "embed_dim", 0, "embed_dim"),
    ("vqgan", "bottleneck_blocks", 10**9, "bottleneck_blocks"),
    ("vqgan", "scale_factor", 0, "scale_factor"),
    ("vqgan", "scale_factor", "0.3764", "scale_factor"),
    ("vqgan", "scale_factor", INF, "scale_factor"),
    ("vqgan", "up_down_scale_factor", 0, "up_down_scale_factor"),
]


def damaged_stage(tiny_root: Path, tmp_path: Path, stage: str, changes: dict[str, Any]) -> Path:
    """A copy of one stage folder whose config.json has ``changes``."""
    repo, sub = STAGES[stage][2]
    folder = tmp_path / repo / sub
    shutil.copytree(tiny_root / repo / sub, folder)
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, **changes}))  # NaN/Infinity as Python writes
    return folder


@pytest.mark.parametrize(("stage", "key", "value", "named"), HOSTILE)
def test_a_hostile_field_is_refused_by_name(
    tiny_root: Path, tmp_path: Path, stage: str, key: str, value: Any, named: str
) -> None:
    model_cls, config_cls, _ = STAGES[stage]
    folder = damaged_stage(tiny_root, tmp_path, stage, {key: value})
    with pytest.raises(CheckpointError) as info:
        check_stage(model_cls, config_cls, folder)
    message = str(info.value)
    assert f"{folder / 'config.json'} is not a valid config: {named} is " in message
    assert "but it must be" in message and "Download the checkpoints again" in message
    assert len(message) < 400  # the value is shown cut short, however large or deep


@pytest.mark.parametrize(
    ("stage", "changes", "name"),
    [
        ("prior", {"c": 16384, "nhead": 1, "depth": 100}, "StageC of 349"),
        ("decoder", {"c_hidden": [16384] * 4, "nhead": [-1, 1, 1, 1], "blocks": [4, 4, 4, 4]}, "StageB"),
        ("vqgan", {"embed_dim": 16384, "bottleneck_blocks": 100, "num_vq_embeddings": 2**20}, "StageA"),
    ],
)
def test_a_config_of_absurd_size_is_refused_before_allocating(
    tiny_root: Path, tmp_path: Path, stage: str, changes: dict[str, Any], name: str
) -> None:
    model_cls, config_cls, _ = STAGES[stage]
    folder = damaged_stage(tiny_root, tmp_path, stage, changes)
    with pytest.raises(CheckpointError, match=f"describes a {name}.* billion parameters"):
        check_stage(model_cls, config_cls, folder)


def test_the_bounds_admit_the_published_stable_cascade_sized_and_tiny_configs() -> None:
    for config in (StageCConfig(), StageBConfig(), StageAConfig(), TINY_STAGE_C, TINY_STAGE_B, TINY_STAGE_A):
        assert type(config).from_json(config.to_json()) == config
    # Stable Cascade's prior is 2048 wide with 48 blocks of each kind; its Stage B has 28 in one level.
    StageCConfig(c=2048, c_cond=2048, nhead=32, depth=48)
    StageBConfig(
        c_hidden=(320, 640, 1280, 1280),
        blocks=(2, 6, 28, 6),
        nhead=(-1, -1, 20, 20),
        level_config=("CT", "CT", "CTA", "CTA"),
    )


@pytest.mark.parametrize(
    "text",
    [
        "[" * 100_000 + "]" * 100_000,  # json.loads gives up with RecursionError
        '{"depth": 1' + "0" * 5000 + "}",  # an integer with more digits than Python converts
        '{"depth": ',
        "\udcff".encode("utf-8", "surrogatepass").decode("latin-1"),
    ],
    ids=["deep-nesting", "huge-integer", "truncated", "not-utf8"],
)
def test_a_config_that_is_not_json_is_damaged(tmp_path: Path, text: str) -> None:
    path = tmp_path / "config.json"
    path.write_text(text, encoding="latin-1")
    with pytest.raises(CheckpointError, match=r"Cannot read .*config\.json: it is damaged"):
        read_json(path)


PUBLISHED_TEXT = {  # ViT-bigG/14's text tower, as warp-ai/wuerstchen-prior ships it
    "hidden_size": 1280,
    "num_hidden_layers": 32,
    "num_attention_heads": 20,
    "intermediate_size": 5120,
    "vocab_size": 49408,
    "max_position_embeddings": 77,
}


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("hidden_size", "1280"),
        ("hidden_size", True),
        ("hidden_size", 10**9),
        ("num_hidden_layers", 10**9),
        ("num_hidden_layers", 0),
        ("intermediate_size", -1),
        ("vocab_size", 10**12),
        ("vocab_size", 4.5),
        ("max_position_embeddings", 10**9),
        ("max_position_embeddings", 16),  # shorter than the 77 tokens every prompt is padded to
        ("num_attention_heads", 0),
        ("num_attention_heads", 3),  # does not divide 1280
        ("num_attention_heads", NAN),
    ],
)
def test_a_hostile_text_encoder_size_is_refused_by_name(key: str, value: Any) -> None:
    path = Path("text_encoder/config.json")
    with pytest.raises(CheckpointError, match=f"config.json is not a valid config: {key} is "):
        check_text_config(path, {**PUBLISHED_TEXT, key: value})
    check_text_config(path, PUBLISHED_TEXT)
    check_text_config(path, {"model_type": "clip", "text_config": PUBLISHED_TEXT})


def test_a_text_encoder_of_absurd_size_is_refused(repo_copy) -> None:
    folder = repo_copy("wuerstchen-prior") / "text_encoder"
    config = json.loads((folder / "config.json").read_text())
    config.update(hidden_size=16384, num_attention_heads=16, num_hidden_layers=200, intermediate_size=65536)
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match=r"describes a text encoder of .* billion parameters"):
        check_text_model(folder)


@pytest.mark.parametrize(
    ("file", "key", "value"),
    [
        ("prior/config.json", "depth", 10**9),
        ("text_encoder/config.json", "num_hidden_layers", 10**9),
        ("model_index.json", "resolution_multiple", 0),
        ("model_index.json", "latent_mean", NAN),
        ("scheduler/scheduler_config.json", "s", "0.008"),
    ],
)
def test_the_command_line_and_verify_refuse_a_damaged_prior_in_one_line(
    repo_copy, decoder_dir: Path, capsys, file: str, key: str, value: Any
) -> None:
    from wuerstchen_desktop.cli import main
    from wuerstchen_desktop.core.engine.checkpoints import decoder_source, prior_source
    from wuerstchen_desktop.core.engine.pipeline import Pipeline

    root = repo_copy("wuerstchen-prior")
    path = root / file
    path.write_text(json.dumps({**json.loads(path.read_text()), key: value}))
    argv = ["generate", "a cat", "--prior", str(root), "--decoder", str(decoder_dir), "--offline"]
    assert main([*argv, "--device", "cpu", "--dtype", "float32", "--seed", "1"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"Error: {path} is not a valid config: {key} is ")
    # The window checks a pipeline's files with verify() before any work: the same sentence.
    with pytest.raises(CheckpointError) as info:
        Pipeline(prior_source(str(root)), decoder_source(str(decoder_dir))).verify()
    assert f"Error: {info.value}\n" == err


@pytest.mark.parametrize(
    ("stage", "changes", "words"),
    [
        ("prior", {"c_cond": 48}, r"prior/config.json gives c_cond 48, but .*text_encoder/config.json gives "
         "hidden_size 32"),
        ("decoder", {"clip_embd": 40}, r"decoder/config.json gives clip_embd 40, but .* hidden_size 24"),
        ("vqgan", {"latent_channels": 8}, r"decoder/config.json gives c_in 4, but .*vqgan/config.json gives "
         "latent_channels 8"),
        ("decoder", {"effnet_embd": 8}, r"composes 16-channel latents, but the decoder .* takes 8 "
         r"\(effnet_embd\)"),
    ],
)  # fmt: skip
def test_parts_that_do_not_fit_together_are_refused_before_any_work(
    repo_copy, capsys, stage: str, changes: dict[str, Any], words: str
) -> None:
    """Each part is whole and matches its own config, but the sizes between parts disagree."""
    import dataclasses
    import re

    from wuerstchen_desktop.cli import main
    from wuerstchen_desktop.testing import checkpoints

    prior, decoder = repo_copy("wuerstchen-prior"), repo_copy("wuerstchen")
    model_cls, _, (_, sub) = STAGES[stage]
    base = {"prior": TINY_STAGE_C, "decoder": TINY_STAGE_B, "vqgan": TINY_STAGE_A}[stage]
    folder = (prior if stage == "prior" else decoder) / sub
    checkpoints.write_stage(folder, model_cls, dataclasses.replace(base, **changes), "Changed", seed=9)
    argv = ["generate", "a cat", "--prior", str(prior), "--decoder", str(decoder), "--offline"]
    assert main([*argv, "--device", "cpu", "--dtype", "float32", "--seed", "1", "--out", str(prior)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("Error: ") and re.search(words, err), err
    assert "not parts of one model" in err
