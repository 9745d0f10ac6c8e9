"""The live-preview model: an optional file of a Hugging Face Space, downloaded with the checkpoints
through the loopback Hub, converted once to safetensors, and never a reason for a download to fail."""

from __future__ import annotations

import hashlib
import os
import pickle
from pathlib import Path

import pytest
import torch

from tests.helpers.demo_previewer import DemoPreviewer
from tests.helpers.hub_server import HubServer
from tests.helpers.pickles import Trap
from wuerstchen_desktop.cli import main
from wuerstchen_desktop.core.engine import live_preview as pv
from wuerstchen_desktop.core.engine.live_preview import (
    PREVIEWER_FILE,
    PREVIEWER_REPO,
    PREVIEWER_REPO_TYPE,
    find_previewer,
    load_previewer,
)
from wuerstchen_desktop.core.errors import CheckpointError
from wuerstchen_desktop.core.hub import cache_layout, catalogue, download
from wuerstchen_desktop.core.hub.download import DownloadProgress
from wuerstchen_desktop.core.models import Previewer
from wuerstchen_desktop.testing import checkpoints

DECODER, PRIOR = "warp-ai/wuerstchen", "warp-ai/wuerstchen-prior"
FAST = {"timeout": 5.0, "retries": 1, "backoff": 0.01, "stall_timeout": 1.0}
PLAN = {k: FAST[k] for k in ("timeout", "retries", "backoff")}


@pytest.fixture
def cache(hub: HubServer, tmp_path: Path) -> Path:
    return tmp_path / "hf-cache"


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data" / "previewer"


def space_dir(cache: Path) -> Path:
    return cache_layout.repo_dir(cache, PREVIEWER_REPO, "space")


def test_catalogue_entry() -> None:
    entry = catalogue.OPTIONAL[PREVIEWER_REPO]
    assert (PREVIEWER_REPO, PREVIEWER_REPO_TYPE, PREVIEWER_FILE) == (
        "warp-ai/Wuerstchen",
        "space",
        "previewer/text2img_wurstchen_b_v1_previewer_100k.pt",
    )
    assert entry.repo_type == "space" and [f.path for f in entry.files] == [PREVIEWER_FILE]
    assert PREVIEWER_REPO not in catalogue.CATALOGUE  # never needed to generate
    assert PREVIEWER_REPO not in catalogue.repos_needed()
    with torch.device("meta"):
        model = Previewer()
    params = sum(p.numel() for p in model.parameters())
    elements = sum(t.numel() for t in model.state_dict().values())
    assert entry.size == 45_244_773 and entry.size_is_exact
    assert entry.files[0].sha256 == "76e82483253b24430b20e3e0c98ec2f9aeb45f0b487f7b330bac044b5de0d6f7"
    # A training checkpoint: the float32 weights and AdamW's two moments of each parameter, and a little more.
    assert 0 < entry.size - 4 * (elements + 2 * params) < 50_000
    assert 0 < catalogue.PREVIEWER_CONVERTED_BYTES - 4 * elements < 10_000  # the weights alone
    assert catalogue.lookup(PREVIEWER_REPO, "space") is entry and catalogue.lookup(PREVIEWER_REPO) is None
    listing = ["README.md", "app.py", PREVIEWER_FILE, "previewer/other.pt"]
    assert catalogue.wanted(PREVIEWER_REPO, listing, "space") == ([PREVIEWER_FILE], [])
    assert catalogue.wanted(PREVIEWER_REPO, ["app.py"], "space") == ([], [PREVIEWER_FILE])
    assert cache_layout.repo_dir(Path("c"), PREVIEWER_REPO, "space") == Path("c/spaces--warp-ai--Wuerstchen")


def test_downloads_with_the_checkpoints_into_the_cache_layout_of_a_space(hub, cache) -> None:
    from huggingface_hub import hf_hub_download

    the_plan = download.plan([DECODER], optional=[PREVIEWER_REPO], **PLAN)
    assert [(r.repo_id, r.repo_type, r.optional) for r in the_plan.repos] == [
        (DECODER, "model", False),
        (PREVIEWER_REPO, "space", True),
    ]
    space = hub.spaces[PREVIEWER_REPO]
    assert the_plan.repos[1].files[0].size == len(space.files[PREVIEWER_FILE])  # the server's size
    assert the_plan.warnings == []
    events: list[DownloadProgress] = []
    snapshots = download.download(the_plan, on_progress=events.append, **FAST)
    assert events[-1].done == events[-1].total == the_plan.total

    pt = space_dir(cache) / "snapshots" / space.commit / PREVIEWER_FILE
    assert snapshots[1] == space_dir(cache) / "snapshots" / space.commit
    assert pt.read_bytes() == space.files[PREVIEWER_FILE]
    assert (space_dir(cache) / "blobs" / space.sha256(PREVIEWER_FILE)).is_file()
    assert (space_dir(cache) / "refs" / "main").read_text() == space.commit
    assert cache_layout.local_status(PREVIEWER_REPO, repo_type="space").verified
    assert "app.py" not in hub.gets and "README.md" not in hub.gets  # only the previewer
    paths = [p for _, p, _ in hub.log]
    assert f"/api/spaces/{PREVIEWER_REPO}/revision/main" in paths
    assert f"/spaces/{PREVIEWER_REPO}/resolve/{space.commit}/{PREVIEWER_FILE}" in paths
    # huggingface_hub finds it where it looks for a Space's file, without the network.
    found = hf_hub_download(PREVIEWER_REPO, PREVIEWER_FILE, repo_type="space", local_files_only=True)
    assert Path(found).read_bytes() == space.files[PREVIEWER_FILE]

    # Complete on disk: the next plan leaves it out without asking the server.
    hub.reset_counts()
    again = download.plan([], optional=[PREVIEWER_REPO], **PLAN)
    assert again.repos == () and again.warnings == [] and hub.log == []


def test_find_previewer_converts_once_and_works_offline(
    hub, cache, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from huggingface_hub import constants

    assert find_previewer(data_dir=data_dir) is None  # nothing downloaded: approximate previews
    download.ensure([], optional=[PREVIEWER_REPO], **FAST)
    hub.__exit__()  # no network from here on
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)

    conversions: list[Path] = []
    convert = pv.convert_previewer
    monkeypatch.setattr(
        pv, "convert_previewer", lambda src, dst: conversions.append(dst) or convert(src, dst)
    )
    path = find_previewer(data_dir=data_dir)
    space = hub.spaces[PREVIEWER_REPO]
    assert path == data_dir / f"previewer-{space.sha256(PREVIEWER_FILE)}.safetensors"
    assert conversions == [path] and sorted(os.listdir(data_dir)) == [path.name]
    mtime = path.stat().st_mtime_ns

    assert find_previewer(data_dir=data_dir) == path
    assert conversions == [path] and path.stat().st_mtime_ns == mtime  # not converted again

    # The Space serves the published layout (weights beside training state); only the weights convert.
    pt = space_dir(cache) / "snapshots" / space.commit / PREVIEWER_FILE
    published = torch.load(pt, map_location="cpu", weights_only=True)
    assert {"state_dict", "optimizer_state_dict", "grad_scaler_state_dict"} <= set(published)
    expected = DemoPreviewer(c_hidden=32)
    expected.load_state_dict(published["state_dict"])
    x = torch.randn(1, 16, 4, 6)
    pixels = pv.preview_pixels(x, load_previewer(path))
    with torch.no_grad():
        assert pixels.shape == (1, 3, 16, 24)
        assert torch.equal(pixels, expected.eval()(x).clamp(0, 1))

    # A damaged conversion is made again from the download.
    path.write_bytes(b"\0" * 100)
    assert find_previewer(data_dir=data_dir) == path and len(conversions) == 2
    load_previewer(path)


def test_a_new_upstream_file_is_converted_again(hub, cache, data_dir: Path, tmp_path: Path) -> None:
    download.ensure([], optional=[PREVIEWER_REPO], **FAST)
    first = find_previewer(data_dir=data_dir)
    assert first is not None
    hub.add_space(PREVIEWER_REPO, checkpoints.write_previewer_space(tmp_path / "space-v2", seed=9))
    # Complete at the commit the cache knows: an optional extra is not checked for updates...
    download.ensure([], optional=[PREVIEWER_REPO], **FAST)
    assert find_previewer(data_dir=data_dir) == first
    # ...until the cache no longer has it complete (here: as if refs/main were lost).
    (space_dir(cache) / "refs" / "main").unlink()
    download.ensure([], optional=[PREVIEWER_REPO], **FAST)
    second = find_previewer(data_dir=data_dir)
    new_sha = hub.spaces[PREVIEWER_REPO].sha256(PREVIEWER_FILE)
    assert second is not None and second.name == f"previewer-{new_sha}.safetensors"
    assert not first.exists() and sorted(os.listdir(data_dir)) == [second.name]


def test_a_copied_snapshot_without_links_or_manifest_is_hashed(hub, cache, data_dir: Path) -> None:
    """Where the cache holds copies, not links (Windows), and another tool put the file there."""
    download.ensure([], optional=[PREVIEWER_REPO], **FAST)
    space = hub.spaces[PREVIEWER_REPO]
    pt = space_dir(cache) / "snapshots" / space.commit / PREVIEWER_FILE
    data = pt.read_bytes()
    pt.unlink()
    pt.write_bytes(data)
    cache_layout.manifest_path(space_dir(cache), space.commit).unlink()
    path = find_previewer(data_dir=data_dir)
    assert path is not None and path.name == f"previewer-{hashlib.sha256(data).hexdigest()}.safetensors"


def test_a_hostile_download_raises_a_clear_error_and_runs_nothing(
    hub, cache, data_dir: Path, tmp_path: Path
) -> None:
    marker = tmp_path / "marker"
    folder = tmp_path / "hostile-space"
    (folder / PREVIEWER_FILE).parent.mkdir(parents=True)
    (folder / PREVIEWER_FILE).write_bytes(pickle.dumps({"state_dict": Trap(marker)}, protocol=2))
    hub.add_space(PREVIEWER_REPO, folder)
    download.ensure([], optional=[PREVIEWER_REPO], **FAST)
    with pytest.raises(CheckpointError, match="could run code") as info:
        find_previewer(data_dir=data_dir)
    assert "download it again" in info.value.hint
    assert not marker.exists() and not list(data_dir.glob("*.safetensors"))


def test_a_hub_without_the_space_still_downloads_the_models(hub, cache, caplog) -> None:
    del hub.spaces[PREVIEWER_REPO]
    the_plan = download.plan([PRIOR, DECODER], optional=[PREVIEWER_REPO], **PLAN)
    assert [r.repo_id for r in the_plan.repos] == [PRIOR, DECODER]
    [warning] = the_plan.warnings
    assert "warp-ai/Wuerstchen" in warning and "not found on the server (HTTP 404)" in warning
    assert "previews will be approximate" in warning and "previews will be approximate" in caplog.text
    download.download(the_plan, **FAST)
    assert cache_layout.local_status(PRIOR).verified and cache_layout.local_status(DECODER).verified
    assert find_previewer(data_dir=cache / "unused") is None


def test_a_failure_while_fetching_the_previewer_is_a_warning(hub, cache) -> None:
    hub.faults.status[PREVIEWER_FILE] = 404
    events: list[DownloadProgress] = []
    the_plan = download.plan([DECODER], optional=[PREVIEWER_REPO], **PLAN)
    snapshots = download.download(the_plan, on_progress=events.append, **FAST)
    assert len(snapshots) == 1 and cache_layout.local_status(DECODER).verified
    [warning] = the_plan.warnings
    assert "previews will be approximate" in warning
    assert events[-1].done == events[-1].total  # the bar ends full: the previewer left the total
    assert not cache_layout.local_status(PREVIEWER_REPO, repo_type="space").complete


def test_unreachable_space_server_is_a_warning_too(hub, cache, monkeypatch) -> None:
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    the_plan = download.plan([], optional=[PREVIEWER_REPO], **PLAN)
    assert the_plan.repos == () and "offline mode is on" in the_plan.warnings[0]
    with pytest.raises(ValueError, match="not an optional repository"):
        download.plan([], optional=[DECODER], **PLAN)


def test_cli_download_fetches_it_and_info_lists_it(hub, cache, capsys) -> None:
    assert main(["info"]) == 0
    out = capsys.readouterr().out
    assert f"{PREVIEWER_REPO} (space, optional, live preview model): not downloaded (45.2 MB)" in out
    assert "live previews will be approximate" in out

    assert main(["download"]) == 0
    out, err = capsys.readouterr()
    commit = hub.spaces[PREVIEWER_REPO].commit
    assert f"{PREVIEWER_REPO} (space, live preview model): ready (commit {commit})" in out
    assert "Warning" not in err
    assert main(["info"]) == 0
    assert f"{PREVIEWER_REPO} (space, optional, live preview model): " in (out := capsys.readouterr().out)
    assert f"verified, commit {commit}" in out.split(PREVIEWER_REPO + " (space")[1]

    hub.reset_counts()
    assert main(["download"]) == 0  # everything there: no request at all
    assert hub.log == []


def test_cli_download_without_the_space_warns_and_succeeds(hub, cache, capsys) -> None:
    del hub.spaces[PREVIEWER_REPO]
    assert main(["download"]) == 0
    out, err = capsys.readouterr()
    assert f"{DECODER}: ready" in out and f"{PRIOR}: ready" in out
    assert "Warning: Live preview model (warp-ai/Wuerstchen) was not downloaded" in err
    assert "previews will be approximate" in err
    # With the models there, a second try asks only about the previewer.
    hub.reset_counts()
    assert main(["download"]) == 0
    assert {p for _, p, _ in hub.log} == {f"/api/spaces/{PREVIEWER_REPO}/revision/main"}


def test_download_after_the_models_fetches_only_the_previewer(hub, cache, data_dir: Path, capsys) -> None:
    """Models downloaded before the previewer was offered: ``download`` adds just the previewer."""
    import shutil

    assert main(["download"]) == 0
    shutil.rmtree(space_dir(cache))
    capsys.readouterr()
    hub.reset_counts()
    assert main(["download"]) == 0
    sent = hub.sent
    assert sent and all(PREVIEWER_FILE in url for url in sent), sent
    assert find_previewer(data_dir=data_dir) is not None
