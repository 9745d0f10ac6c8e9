"""Command-line errors: exit code 1 and one line that names the problem, no traceback unless --verbose."""

from __future__ import annotations

import json
import pickle
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers.cli import generate, run_user_error
from wuerstchen_desktop.cli import main


def test_images_and_names(prior_dir, decoder_dir, tmp_path, capsys) -> None:
    assert main(generate(prior_dir, decoder_dir, tmp_path, "--images", "2")) == 0
    paths = capsys.readouterr().out.split()
    assert len(paths) == 2 and all(Path(p).is_file() for p in paths)
    assert "-3-a-cat" in paths[0] and "-4-a-cat" in paths[1]
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".tmp")] == []


def test_same_seed_twice_never_overwrites(prior_dir, decoder_dir, tmp_path, capsys) -> None:
    assert main(generate(prior_dir, decoder_dir, tmp_path)) == 0
    assert main(generate(prior_dir, decoder_dir, tmp_path)) == 0
    assert len({*capsys.readouterr().out.split()}) == 2
    assert len(list(tmp_path.glob("*.png"))) == 2


@pytest.mark.parametrize("fmt", ["jpeg", "webp"])
def test_other_formats(prior_dir, decoder_dir, tmp_path, capsys, fmt) -> None:
    from PIL import Image

    assert main(generate(prior_dir, decoder_dir, tmp_path, "--format", fmt)) == 0
    path = Path(capsys.readouterr().out.strip())
    assert Image.open(path).format == fmt.upper()


def test_bad_size_names_valid_ones(prior_dir, decoder_dir, tmp_path, capsys) -> None:
    line = run_user_error(capsys, generate(prior_dir, decoder_dir, tmp_path, "--width", "1000"))
    assert "Use 896 or 1024." in line


def test_missing_folder(decoder_dir, tmp_path, capsys) -> None:
    line = run_user_error(capsys, generate(tmp_path / "nowhere", decoder_dir, tmp_path))
    assert "nowhere" in line


def test_not_a_prior_folder(decoder_dir, tmp_path, capsys) -> None:
    (tmp_path / "empty").mkdir()
    line = run_user_error(capsys, generate(tmp_path / "empty", decoder_dir, tmp_path))
    assert "not a Würstchen prior" in line


def test_missing_file(prior_dir, repo_copy, tmp_path, capsys) -> None:
    decoder = repo_copy("wuerstchen")
    (decoder / "vqgan" / "diffusion_pytorch_model.safetensors").unlink()
    line = run_user_error(capsys, generate(prior_dir, decoder, tmp_path / "out"))
    assert "vqgan" in line and "Download the checkpoints again" in line
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").iterdir())


def test_truncated_file(prior_dir, repo_copy, tmp_path, capsys) -> None:
    decoder = repo_copy("wuerstchen")
    path = decoder / "decoder" / "diffusion_pytorch_model.safetensors"
    path.write_bytes(path.read_bytes()[:1000])
    line = run_user_error(capsys, generate(prior_dir, decoder, tmp_path))
    assert str(path) in line and "damaged or incomplete" in line


def test_wrong_shapes(prior_dir, repo_copy, tmp_path, capsys) -> None:
    decoder = repo_copy("wuerstchen")
    config_path = decoder / "decoder" / "config.json"
    config = json.loads(config_path.read_text())
    config["c_hidden"] = [8, 16, 32, 16]
    config_path.write_text(json.dumps(config))
    line = run_user_error(capsys, generate(prior_dir, decoder, tmp_path))
    assert "has shape" in line and "config.json" in line


def test_corrupt_text_encoder(prior_dir, repo_copy, tmp_path, capsys) -> None:
    decoder = repo_copy("wuerstchen")
    (decoder / "text_encoder" / "model.safetensors").write_bytes(b"\x00" * 64)
    line = run_user_error(capsys, generate(prior_dir, decoder, tmp_path))
    assert "text encoder" in line or "text_encoder" in line


def test_pickle_only_folder(prior_dir, repo_copy, tmp_path, capsys) -> None:
    decoder = repo_copy("wuerstchen")
    (decoder / "decoder" / "diffusion_pytorch_model.safetensors").unlink()
    (decoder / "decoder" / "diffusion_pytorch_model.bin").write_bytes(pickle.dumps({"x": 1}))
    line = run_user_error(capsys, generate(prior_dir, decoder, tmp_path))
    assert "pickle" in line and "diffusion_pytorch_model.safetensors" in line


def test_offline_without_checkpoints(decoder_dir, tmp_path, capsys, monkeypatch) -> None:
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    line = run_user_error(capsys, generate(Path("someone/missing-prior"), decoder_dir, tmp_path, "--offline"))
    assert "someone/missing-prior" in line and "download" in line


def test_verbose_shows_the_traceback(decoder_dir, tmp_path, capsys) -> None:
    assert main(["--verbose", *generate(tmp_path / "nowhere", decoder_dir, tmp_path)]) == 1
    assert "Traceback" in capsys.readouterr().err


def test_usage_error_exits_2(capsys) -> None:
    with pytest.raises(SystemExit) as info:
        main(["generate"])
    assert info.value.code == 2


def test_module_entry_point_runs() -> None:
    run = subprocess.run(
        [sys.executable, "-m", "wuerstchen_desktop", "--help"], capture_output=True, text=True, timeout=120
    )
    assert run.returncode == 0
    assert "generate" in run.stdout and "info" in run.stdout
