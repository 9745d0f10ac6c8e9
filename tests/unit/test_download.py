"""Downloads against a real HTTP server on 127.0.0.1 that answers like the Hub, serving tiny checkpoints."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.helpers.hub_server import HubServer
from wuerstchen_desktop.core.errors import Cancelled
from wuerstchen_desktop.core.hub import cache_layout, download
from wuerstchen_desktop.core.hub.download import DownloadError, DownloadProgress, NotEnoughSpace

DECODER, PRIOR, FINETUNED = (
    "warp-ai/wuerstchen",
    "warp-ai/wuerstchen-prior",
    "warp-ai/wuerstchen-prior-model-finetuned",
)
BIG = "decoder/diffusion_pytorch_model.safetensors"  # the third file of the decoder repository
PICKLE = "decoder/diffusion_pytorch_model.bin"
FAST = {"timeout": 5.0, "retries": 2, "backoff": 0.01, "stall_timeout": 1.0}


@pytest.fixture
def cache(hub: HubServer, tmp_path: Path) -> Path:
    return tmp_path / "hf-cache"


def blob(cache: Path, repo_id: str, sha: str) -> Path:
    return cache_layout.repo_dir(cache, repo_id) / "blobs" / sha


def fetch(*repos: str, **options) -> list[Path]:
    return download.ensure(list(repos), **{**FAST, **options})


def test_full_download_then_offline_generation(hub, cache, monkeypatch) -> None:
    from huggingface_hub import constants, hf_hub_download

    from wuerstchen_desktop.core.engine.checkpoints import decoder_source, prior_source
    from wuerstchen_desktop.core.engine.pipeline import Pipeline
    from wuerstchen_desktop.core.params import GenerationParams

    snapshots = fetch(PRIOR, DECODER)
    repo = hub.repos[DECODER]
    assert snapshots[1] == cache_layout.repo_dir(cache, DECODER) / "snapshots" / repo.commit
    assert (snapshots[1] / BIG).read_bytes() == repo.files[BIG]
    assert blob(cache, DECODER, repo.sha256(BIG)).is_file()  # blobs/<sha256>, as huggingface_hub names it
    assert PICKLE not in hub.gets and not (snapshots[1] / PICKLE).exists()
    assert cache_layout.local_status(DECODER).verified
    # Another tool finds the files where it looks for them, without the network.
    found = hf_hub_download(DECODER, BIG, local_files_only=True)
    assert Path(found).read_bytes() == repo.files[BIG]
    # Asking again fetches nothing.
    hub.reset_counts()
    fetch(PRIOR, DECODER)
    assert hub.sent == {} and not any(method == "HEAD" for method, _, _ in hub.log)

    hub.__exit__()  # no network from here on
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    prior, decoder = prior_source(PRIOR), decoder_source(DECODER)
    assert decoder.commit == repo.commit and prior.commit == hub.repos[PRIOR].commit
    # The weights' sha256 (the images' "Model hash") comes from the cache's blob name, without hashing 4 GB.
    prior_weights = "prior/diffusion_pytorch_model.safetensors"
    assert prior.weights_sha256() == hub.repos[PRIOR].sha256(prior_weights)
    pipe = Pipeline(prior, decoder)
    pipe.verify()
    params = GenerationParams("a cat", width=256, height=256, seed=1, prior_steps=2, decoder_steps=1)
    assert pipe.generate(params).images[0].size == (256, 256)


def test_reuses_a_snapshot_huggingface_hub_downloaded(hub, cache) -> None:
    from huggingface_hub import snapshot_download

    snapshot_download(
        DECODER, allow_patterns=["*.json", "*.txt", "*.safetensors", "*/*"], ignore_patterns="*.bin"
    )
    hub.reset_counts()
    the_plan = download.plan([DECODER], **{k: FAST[k] for k in ("timeout", "retries", "backoff")})
    assert the_plan.to_fetch == 0
    download.download(the_plan, **FAST)
    assert hub.sent == {}
    assert cache_layout.local_status(DECODER).verified


def test_bare_prior_brings_the_default_prior_for_its_text_encoder(hub, cache, monkeypatch) -> None:
    from huggingface_hub import constants

    from wuerstchen_desktop.core.engine.checkpoints import prior_source
    from wuerstchen_desktop.core.hub.catalogue import repos_needed

    fetch(*repos_needed(FINETUNED, DECODER))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    source = prior_source(FINETUNED)
    assert source.prior_dir.name == hub.repos[FINETUNED].commit == source.commit
    assert source.text_root.name == hub.repos[PRIOR].commit


def test_dropped_connection_resumes_where_it_stopped(hub, cache) -> None:
    size = len(hub.repos[DECODER].files[BIG])
    hub.faults.drop_after[BIG] = 100_000
    fetch(DECODER)
    assert hub.gets[BIG] == [0, 100_000]
    assert hub.sent[BIG] == size  # not one byte twice
    assert cache_layout.local_status(DECODER).verified


def test_killed_process_resumes_without_fetching_completed_bytes(hub, cache) -> None:
    repo = hub.repos[DECODER]
    size = len(repo.files[BIG])
    hub.faults.delay[BIG] = 0.05
    env = {**os.environ, "HF_ENDPOINT": hub.url, "HF_HUB_CACHE": str(cache), "HF_HUB_OFFLINE": "0"}
    code = f"from wuerstchen_desktop.core.hub.download import ensure; ensure([{DECODER!r}])"
    proc = subprocess.Popen([sys.executable, "-c", code], env=env, cwd=Path(__file__).parents[2])
    try:
        deadline = time.monotonic() + 60
        while hub.sent.get(BIG, 0) < 60_000 and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.02)
        assert proc.poll() is None, "the download ended before it could be killed"
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(30)
    part = blob(cache, DECODER, repo.sha256(BIG)).with_name(repo.sha256(BIG) + ".incomplete")
    kept = part.stat().st_size
    assert 0 < kept < size
    done_before = [p for p in ("model_index.json", "decoder/config.json") if p in hub.gets]
    assert done_before == ["model_index.json", "decoder/config.json"]

    hub.reset_counts()
    hub.faults.delay.clear()
    fetch(DECODER)
    assert hub.transfers[BIG] == [[kept, size - kept]]  # only the bytes it lacked
    assert "model_index.json" not in hub.gets and "decoder/config.json" not in hub.gets
    assert cache_layout.local_status(DECODER).verified


def test_file_corrupted_in_transit_is_detected_and_fetched_again(hub, cache, caplog) -> None:
    repo = hub.repos[DECODER]
    hub.faults.corrupt_once.add(BIG)
    snapshot = fetch(DECODER)[0]
    assert hub.gets[BIG] == [0, 0]
    assert hashlib.sha256((snapshot / BIG).read_bytes()).hexdigest() == repo.sha256(BIG)
    assert "arrived damaged" in caplog.text


def test_damaged_file_in_the_cache_is_fetched_again(hub, cache) -> None:
    repo = hub.repos[DECODER]
    fetch(DECODER)
    path = blob(cache, DECODER, repo.sha256(BIG))
    data = bytearray(path.read_bytes())
    data[5000] ^= 1
    path.write_bytes(bytes(data))
    (
        cache_layout.manifest_path(cache_layout.repo_dir(cache, DECODER), repo.commit)
    ).unlink()  # as if another tool put it
    hub.reset_counts()
    fetch(DECODER)
    assert hub.gets[BIG] == [0]
    assert path.read_bytes() == repo.files[BIG]


def test_unknown_repository_is_a_clear_404(hub, cache) -> None:
    with pytest.raises(
        DownloadError, match=r"someone/nothing was not found on the server \(HTTP 404\)"
    ) as info:
        fetch("someone/nothing")
    assert "HF_ENDPOINT" in info.value.hint and "folder" in info.value.hint


def test_missing_file_is_a_clear_404(hub, cache) -> None:
    hub.faults.status[BIG] = 404
    with pytest.raises(DownloadError, match="not found on the server"):
        fetch(DECODER)


def test_server_error_is_retried_then_reported(hub, cache) -> None:
    hub.faults.status[DECODER] = 500
    with pytest.raises(DownloadError, match=r"after 3 tries.*500") as info:
        fetch(DECODER)
    assert "try again" in info.value.hint
    assert sum(path.startswith("/api/models/") for _, path, _ in hub.log) == 3


def test_stalled_server_gives_a_clear_error(hub, cache) -> None:
    hub.faults.stall[BIG] = 50_000
    with pytest.raises(DownloadError, match="sent nothing for 1 s"):
        fetch(DECODER, retries=1)
    assert hub.sent[BIG] == 50_000  # every retry asked for the bytes after those it had


def test_cancel_stops_and_the_next_try_continues(hub, cache) -> None:
    size = len(hub.repos[DECODER].files[BIG])
    hub.faults.delay[BIG] = 0.02
    stop = threading.Event()

    def progress(p: DownloadProgress) -> None:
        if p.file == BIG and hub.sent.get(BIG, 0) > 40_000:
            stop.set()

    with pytest.raises(Cancelled):
        fetch(DECODER, on_progress=progress, cancel=stop)
    assert hub.sent[BIG] < size
    repo = hub.repos[DECODER]
    kept = blob(cache, DECODER, repo.sha256(BIG)).with_name(repo.sha256(BIG) + ".incomplete").stat().st_size
    assert kept > 0
    hub.reset_counts()
    hub.faults.delay.clear()
    fetch(DECODER)
    assert hub.transfers[BIG] == [[kept, size - kept]]
    assert cache_layout.local_status(DECODER).verified


def test_cancel_during_a_stall_stops_within_a_second(hub, cache) -> None:
    hub.faults.stall[BIG] = 20_000
    stop = threading.Event()
    threading.Timer(0.5, stop.set).start()
    started = time.monotonic()
    with pytest.raises(Cancelled):
        fetch(DECODER, cancel=stop, stall_timeout=60.0)
    assert time.monotonic() - started < 0.5 + 3.0  # generous: the promise is about a second


def test_too_little_disk_space_fake_disk_usage_refuses_before_fetching(hub, cache, monkeypatch) -> None:
    import shutil

    from wuerstchen_desktop.core.hub.units import human

    monkeypatch.setattr(shutil, "disk_usage", lambda _: shutil._ntuple_diskusage(10**12, 10**12 - 1000, 1000))
    the_plan = download.plan([PRIOR, DECODER])
    assert not the_plan.fits and the_plan.free == 1000
    assert human(the_plan.to_fetch) in the_plan.describe()
    with pytest.raises(NotEnoughSpace, match=r"needs .* and .* has 1.0 KB free") as info:
        download.download(the_plan)
    assert "HF_HUB_CACHE" in info.value.hint
    assert hub.sent == {} and not any("/resolve/" in p for _, p, _ in hub.log)


def test_progress_reports_bytes_total_speed_and_eta(hub, cache) -> None:
    hub.faults.delay[BIG] = 0.01
    events: list[DownloadProgress] = []
    fetch(DECODER, on_progress=events.append)
    total = sum(len(b) for p, b in hub.repos[DECODER].files.items() if p != PICKLE)
    assert events and all(e.total == total for e in events)
    assert events[-1].done == total
    assert [e.done for e in events] == sorted(e.done for e in events)
    assert any(e.speed > 0 and e.eta is not None for e in events)


def test_server_that_ignores_range_starts_the_file_over(hub, cache) -> None:
    hub.faults.drop_after[BIG] = 100_000
    hub.faults.no_range = True
    snapshot = fetch(DECODER)[0]
    assert (snapshot / BIG).read_bytes() == hub.repos[DECODER].files[BIG]


def test_token_goes_to_the_hub_and_never_to_the_cdn(hub, cache) -> None:
    hub.token = "secret"
    with pytest.raises(DownloadError, match="refused access") as info:
        fetch(DECODER)
    assert "HF_TOKEN" in info.value.hint
    fetch(DECODER, token="secret")
    assert all(auth is None for _, path, auth in hub.log if path.startswith("/cdn/"))
    assert any(auth == "Bearer secret" for _, path, auth in hub.log if "/resolve/" in path)
