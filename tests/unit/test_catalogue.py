"""The catalogue names exactly the files the pipeline loads, never a pickle, with honest sizes."""

from __future__ import annotations

import re
from pathlib import Path

from wuerstchen_desktop.core.hub import catalogue
from wuerstchen_desktop.core.hub.catalogue import CATALOGUE, PRIOR_BYTES, repos_needed, wanted

TINY = {
    "warp-ai/wuerstchen": "wuerstchen",
    "warp-ai/wuerstchen-prior": "wuerstchen-prior",
    "warp-ai/wuerstchen-prior-model-finetuned": "wuerstchen-prior-model-finetuned",
}


def test_the_five_repositories_and_their_sides() -> None:
    sides = {repo: entry.side for repo, entry in CATALOGUE.items()}
    assert sides == {
        "warp-ai/wuerstchen": "decoder",
        "warp-ai/wuerstchen-prior": "prior",
        "warp-ai/wuerstchen-prior-model-finetuned": "prior",
        "warp-ai/wuerstchen-prior-model-base": "prior",
        "warp-ai/wuerstchen-prior-model-interpolated": "prior",
    }


def test_no_pickles_and_only_confirmed_pins() -> None:
    for entry in CATALOGUE.values():
        assert not any(f.path.endswith((".bin", ".pt", ".ckpt")) for f in entry.files)
        assert entry.revision == "main" or re.fullmatch(r"[0-9a-f]{40}", entry.revision)


def test_sizes_exact_only_where_documented() -> None:
    exact = {(e.repo_id, f.path) for e in CATALOGUE.values() for f in e.files if f.exact}
    assert exact == {
        ("warp-ai/wuerstchen-prior", "prior/diffusion_pytorch_model.safetensors"),
        *(
            (r, "diffusion_pytorch_model.safetensors")
            for r in CATALOGUE
            if r.startswith("warp-ai/wuerstchen-prior-")
        ),
    }
    assert all(f.size == PRIOR_BYTES for e in CATALOGUE.values() for f in e.files if f.exact)
    assert 12.0e9 < CATALOGUE["warp-ai/wuerstchen"].size + CATALOGUE["warp-ai/wuerstchen-prior"].size < 12.8e9
    assert not CATALOGUE["warp-ai/wuerstchen"].size_is_exact


def test_catalogue_matches_the_hub_layout_the_pipeline_loads(tiny_root: Path) -> None:
    for repo_id, folder in TINY.items():
        root = tiny_root / folder
        on_disk = sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())
        paths, missing = wanted(repo_id, on_disk)
        assert missing == []
        assert sorted(paths) == on_disk


def test_wanted_reports_required_files_the_server_lacks() -> None:
    listing = ["model_index.json", "decoder/config.json", "decoder/diffusion_pytorch_model.bin"]
    paths, missing = wanted("warp-ai/wuerstchen", listing)
    assert paths == ["model_index.json", "decoder/config.json"]
    assert "decoder/diffusion_pytorch_model.safetensors" in missing
    assert "tokenizer/tokenizer.json" not in missing  # optional: vocab.json + merges.txt suffice


def test_unknown_repository_gets_safetensors_and_configs_only() -> None:
    listing = ["README.md", "config.json", "model.safetensors", "pytorch_model.bin", "tokenizer/vocab.json"]
    assert wanted("someone/other", listing) == (
        ["config.json", "model.safetensors", "tokenizer/vocab.json"],
        [],
    )


def test_a_bare_prior_brings_the_default_prior_for_its_text_encoder() -> None:
    assert repos_needed() == ["warp-ai/wuerstchen-prior", "warp-ai/wuerstchen"]
    assert repos_needed("warp-ai/wuerstchen-prior-model-base") == [
        "warp-ai/wuerstchen-prior-model-base",
        "warp-ai/wuerstchen-prior",
        "warp-ai/wuerstchen",
    ]
    assert repos_needed("someone/prior", "/some/folder") == ["someone/prior", "/some/folder"]
    assert catalogue.revision_for("someone/prior") == "main"
