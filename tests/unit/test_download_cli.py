"""`download` and `info` on the command line, against the loopback Hub; folders imported in the Hub layout."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from wuerstchen_desktop.cli import main
from wuerstchen_desktop.core.errors import CheckpointError, OfflineError
from wuerstchen_desktop.core.hub import cache_layout

DECODER, PRIOR, FINETUNED = (
    "warp-ai/wuerstchen",
    "warp-ai/wuerstchen-prior",
    "warp-ai/wuerstchen-prior-model-finetuned",
)


def test_download_shows_size_and_space_then_a_bar_and_info_lists_it(hub, capsys) -> None:
    from wuerstchen_desktop.core.hub.units import human

    assert main(["download"]) == 0
    out, err = capsys.readouterr()
    assert "To download: " in err and "free space in " in err
    assert "[########################]" in err and "B/s" in err
    assert f"{PRIOR}: ready (commit {hub.repos[PRIOR].commit})" in out
    assert f"{DECODER}: ready (commit {hub.repos[DECODER].commit})" in out

    assert main(["info"]) == 0
    out = capsys.readouterr().out
    size = human(sum(len(b) for p, b in hub.repos[DECODER].files.items() if not p.endswith(".bin")))
    assert f"{DECODER}: {size}, verified, commit {hub.repos[DECODER].commit}" in out
    assert f"{FINETUNED}: not downloaded (about 4.0 GB)" in out

    hub.reset_counts()
    assert main(["download"]) == 0  # all there and verified: nothing fetched, no request at all
    assert "To download" not in capsys.readouterr().err
    assert hub.log == []


def test_info_tells_a_partial_download_from_a_complete_one(hub, capsys) -> None:
    from wuerstchen_desktop.core.hub.download import DownloadError, ensure

    hub.faults.drop_after["decoder/diffusion_pytorch_model.safetensors"] = 100_000
    with pytest.raises(DownloadError, match="after 1 tries"):
        ensure([DECODER], retries=0)
    assert main(["info"]) == 0
    assert f"{DECODER}: partly downloaded: " in capsys.readouterr().out


def test_offline_with_nothing_on_disk_offers_a_folder(hub, capsys, monkeypatch) -> None:
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    assert main(["download"]) == 1
    err = capsys.readouterr().err
    assert "offline mode is on (HF_HUB_OFFLINE)" in err and "folder you already have" in err
    assert hub.log == []  # never waited on the network


def test_unreachable_server_offers_a_folder(hub, monkeypatch) -> None:
    from huggingface_hub import constants

    from wuerstchen_desktop.core.engine.checkpoints import resolve

    hub.__exit__()
    monkeypatch.setattr(constants, "ENDPOINT", hub.url)  # nothing listens there any more
    with pytest.raises(OfflineError, match="Could not download warp-ai/wuerstchen") as info:
        resolve(DECODER)
    assert "folder you already have" in info.value.hint


def test_import_folder_from_a_copied_cache_snapshot(hub, tmp_path, monkeypatch) -> None:
    from huggingface_hub import constants

    from wuerstchen_desktop.core.engine.checkpoints import DecoderSource, PriorSource, import_folder
    from wuerstchen_desktop.core.hub.download import ensure

    ensure([PRIOR, DECODER], retries=0)
    other = tmp_path / "usb-stick"
    shutil.copytree(cache_layout.cache_root(), other, symlinks=True)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "empty"))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)

    decoder = import_folder(other / "models--warp-ai--wuerstchen")
    assert isinstance(decoder, DecoderSource) and decoder.commit == hub.repos[DECODER].commit
    prior = import_folder(other / "models--warp-ai--wuerstchen-prior" / "snapshots" / hub.repos[PRIOR].commit)
    assert isinstance(prior, PriorSource) and prior.commit == hub.repos[PRIOR].commit


def test_import_folder_refuses_what_is_not_a_checkpoint(tmp_path, repo_copy) -> None:
    from wuerstchen_desktop.core.engine.checkpoints import import_folder

    (tmp_path / "photos").mkdir()
    with pytest.raises(CheckpointError, match="holds no Würstchen checkpoints"):
        import_folder(tmp_path / "photos")
    decoder = repo_copy("wuerstchen")
    (decoder / "vqgan" / "diffusion_pytorch_model.safetensors").write_bytes(b"\0" * 100)
    with pytest.raises(CheckpointError, match="damaged or incomplete"):
        import_folder(decoder)


def test_generate_announces_a_download_before_fetching(hub, capsys, tmp_path: Path) -> None:
    """`generate` never surprises with a download: the size and free space come first, then a bar."""
    args = ["generate", "a cat", "--width", "256", "--height", "256", "--prior-steps", "2", "--decoder-steps",
            "1", "--seed", "1", "--out", str(tmp_path / "out")]  # fmt: skip
    assert main(args) == 0
    out, err = capsys.readouterr()
    assert err.index("To download: ") < err.index("[####")
    assert Path(out.strip()).is_file()
    hub.reset_counts()
    assert main(args) == 0  # the second time, nothing to fetch and nothing said about it
    assert "To download" not in capsys.readouterr().err and hub.sent == {}
