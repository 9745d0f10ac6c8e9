"""A mirror (anything set as HF_ENDPOINT) that is hostile or misbehaves: names that climb out of the cache,
ETags that are no hash, slow first bytes, overlong bodies, expiring signed links, rate limits.

Everything runs against the loopback Hub of tests/helpers/hub_server.py through huggingface_hub's own HTTP
layer.
"""

from __future__ import annotations

import email.utils
import hashlib
import itertools
import threading
import time
from pathlib import Path

import pytest

from tests.helpers.hub_server import HubServer
from wuerstchen_desktop.cli import main
from wuerstchen_desktop.core.errors import Cancelled
from wuerstchen_desktop.core.hub import cache_layout, download
from wuerstchen_desktop.core.hub.download import DownloadError, DownloadProgress

DECODER = "warp-ai/wuerstchen"
BIG = "decoder/diffusion_pytorch_model.safetensors"
FAST = {"timeout": 5.0, "retries": 2, "backoff": 0.01, "stall_timeout": 1.0}


@pytest.fixture
def cache(hub: HubServer, tmp_path: Path) -> Path:
    return tmp_path / "hf-cache"


@pytest.fixture
def victim(tmp_path: Path) -> Path:
    folder = tmp_path / "victim"
    folder.mkdir()
    return folder


def fetch(*repos: str, **options) -> list[Path]:
    return download.ensure(list(repos), **{**FAST, **options})


def gets_of(hub: HubServer, name: str) -> int:
    """GET requests that asked for a file, whether or not the server got to send any of it."""
    repo = next(r for r in hub.repos.values() if name in r.files)
    tail = repo.sha256(name) if repo.is_lfs(name) else name
    return sum(method == "GET" and path.endswith(tail) for _, method, path in hub.stamps)


def heads_of(hub: HubServer, name: str) -> int:
    return sum(method == "HEAD" and path.endswith("/" + name) for _, method, path in hub.stamps)


def one_error_line(err: str) -> str:
    assert "Traceback" not in err
    errors = [line for line in err.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, err
    return errors[0]


def untouched(folder: Path, name: str, content: bytes) -> None:
    path = folder / name
    assert not path.is_symlink() and path.read_bytes() == content
    assert sorted(p.name for p in folder.iterdir()) == [name]  # no .lock, .incomplete or link beside it


# -- 1: names from the server ----------------------------------------------------------------------
def test_an_etag_that_is_a_path_is_refused_and_nothing_outside_the_cache_is_touched(hub, victim, capsys):
    (victim / "thesis.txt").write_bytes(b"four years of work")
    # blobs/../../../victim/thesis.txt is tmp_path/victim/thesis.txt; the lock would land beside it.
    hub.faults.etag[BIG] = '"../../../victim/thesis.txt"'
    assert main(["download"]) == 1
    line = one_error_line(capsys.readouterr().err)
    assert "unsafe" in line and BIG in line and "HF_ENDPOINT" in line
    untouched(victim, "thesis.txt", b"four years of work")


@pytest.mark.parametrize(
    "etag", ['"/etc/passwd"', '"..\\\\..\\\\x"', 'W/"../x"', '"a\\u0000b"', '"abc/def"', '"x\\ny"']
)
def test_unsafe_etags_are_refused(etag: str) -> None:
    from wuerstchen_desktop.core.hub import server_checks

    with pytest.raises(ValueError):
        server_checks.checksum(etag.strip('"'))


def test_hashes_and_opaque_etags_are_told_apart() -> None:
    from wuerstchen_desktop.core.hub import server_checks

    sha = "ab" * 32
    assert server_checks.checksum(sha) == sha and server_checks.checksum("cd" * 20) == "cd" * 20
    assert server_checks.checksum("5f1-64a1b2c3") is None  # nginx: a version tag, not a hash
    assert server_checks.checksum("AB" * 32) is None  # the Hub's hashes are lower case: no guessing
    assert server_checks.checksum(None) is None


def test_a_commit_that_is_no_commit_id_is_refused(hub, cache, monkeypatch) -> None:
    import json

    from tests.helpers import hub_server

    real = hub_server._Handler._reply

    def reply(self, code, headers=None, body=b""):
        if body.startswith(b"{") and b'"sha"' in body:
            data = json.loads(body)
            data["sha"] = "../../../victim"
            body = json.dumps(data).encode()
        real(self, code, headers, body)

    monkeypatch.setattr(hub_server._Handler, "_reply", reply)
    with pytest.raises(DownloadError, match="commit id"):
        fetch(DECODER)
    assert not (cache.parent / "victim").exists()


# -- 2: paths from the listing ---------------------------------------------------------------------
def test_a_listing_path_that_climbs_out_is_refused_by_the_cli(hub, tiny_root, victim, capsys) -> None:
    (victim / "config.json").write_bytes(b'{"mine": true}')
    # snapshots/<commit>/../../../../victim/config.json is tmp_path/victim/config.json
    hostile = "../../../../victim/config.json"
    hub.add_repo("evil/prior", tiny_root / "wuerstchen-prior-model-finetuned", {hostile: b'{"evil": 1}'})
    assert main(["download", "--prior", "evil/prior"]) == 1
    line = one_error_line(capsys.readouterr().err)
    assert "evil/prior" in line and "unsafe file name" in line and hostile in line
    untouched(victim, "config.json", b'{"mine": true}')


@pytest.mark.parametrize(
    "path",
    ["/abs/config.json", "sub\\config.json", "a//config.json", "a/./config.json", "a/../config.json",
     "a\0/config.json", "config.json/", ".."],
)  # fmt: skip
def test_unsafe_listing_paths_are_refused(hub, tiny_root, cache, path: str) -> None:
    hub.add_repo("evil/prior", tiny_root / "wuerstchen-prior-model-finetuned", {path: b"{}"})
    with pytest.raises(DownloadError, match="unsafe file name"):
        download.plan(["evil/prior"], retries=0)
    assert not (cache / "models--evil--prior" / "snapshots").exists()


def test_placing_a_file_refuses_to_leave_the_snapshot(tmp_path) -> None:
    rdir = tmp_path / "models--a--b"
    (rdir / "blobs").mkdir(parents=True)
    (rdir / "blobs" / ("ab" * 32)).write_bytes(b"x")
    with pytest.raises(ValueError):
        cache_layout.place(rdir, "c" * 40, "../../../outside.json", "ab" * 32)
    with pytest.raises(ValueError):
        cache_layout.place(rdir, "c" * 40, "config.json", "../../outside")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["models--a--b"]


# -- 3: a slow server ------------------------------------------------------------------------------
def test_a_slow_first_byte_is_waited_for_not_asked_again(hub, cache) -> None:
    hub.faults.first_byte_delay[BIG] = 1.0  # longer than the cancel check's poll, shorter than the stall
    snapshot = fetch(DECODER, stall_timeout=5.0)[0]
    assert gets_of(hub, BIG) == 1
    assert (snapshot / BIG).read_bytes() == hub.repos[DECODER].files[BIG]


@pytest.mark.parametrize("slow", ["first_byte_delay", "head_delay"])
def test_cancel_while_waiting_for_a_slow_server_stops_within_a_second(hub, cache, slow: str) -> None:
    getattr(hub.faults, slow)[BIG] = 30.0
    stop = threading.Event()
    threading.Timer(0.3, stop.set).start()
    started = time.monotonic()
    with pytest.raises(Cancelled):
        fetch(DECODER, cancel=stop, stall_timeout=60.0)
    assert time.monotonic() - started < 0.3 + 2.0  # generous: the promise is about a second


# -- 4: an overlong body ---------------------------------------------------------------------------
def test_a_body_longer_than_its_size_ends_in_a_clear_error(hub, cache) -> None:
    hub.faults.extra_bytes[BIG] = b"x" * 100
    stop = threading.Event()
    outcome: list[BaseException | None] = []

    def run() -> None:
        try:
            fetch(DECODER, cancel=stop)
            outcome.append(None)
        except BaseException as exc:
            outcome.append(exc)

    worker = threading.Thread(target=run)
    worker.start()
    while worker.is_alive() and gets_of(hub, BIG) < 20:
        time.sleep(0.05)
    stop.set()  # the download loops on its own: stop it, then look at what it did
    worker.join(30)
    assert gets_of(hub, BIG) < 5
    assert isinstance(outcome[0], DownloadError), outcome
    assert "more than the" in str(outcome[0]) and BIG in str(outcome[0])


# -- 5: ETags that are no hash ---------------------------------------------------------------------
def test_weak_etags_fall_back_to_the_listed_sha256_and_catch_corruption(hub, cache, caplog) -> None:
    repo = hub.repos[DECODER]
    hub.faults.weak_etags = True
    hub.faults.corrupt_once.add(BIG)
    snapshot = fetch(DECODER)[0]
    assert (snapshot / BIG).read_bytes() == repo.files[BIG]
    assert hub.gets[BIG] == [0, 0] and "arrived damaged" in caplog.text
    assert (cache_layout.repo_dir(cache, DECODER) / "blobs" / repo.sha256(BIG)).is_file()
    assert cache_layout.local_status(DECODER).verified


def test_a_file_no_hash_can_check_is_marked_unverified(hub, cache, capsys) -> None:
    repo = hub.repos[DECODER]
    hub.faults.weak_etags = True
    hub.faults.listing_hashes = False
    assert main(["download"]) == 0
    err = capsys.readouterr().err
    said = [line for line in err.splitlines() if f"files of {DECODER} (" in line]
    assert len(said) == 1 and said[0].startswith("Warning: ") and "could not be verified" in said[0]
    rdir = cache_layout.repo_dir(cache, DECODER)
    assert (rdir / "blobs" / repo.sha256(BIG)).is_file()  # named by its content, never by the ETag
    st = cache_layout.local_status(DECODER)
    assert st.complete and not st.verified
    assert not next(f for f in st.files if f.path == BIG).verified
    manifest = cache_layout.read_manifest(rdir, repo.commit)
    assert manifest is not None and "no checksum" in manifest["files"][BIG]["unverified"]
    # Asking again does not fetch it again, and says again that it is unchecked.
    hub.reset_counts()
    assert main(["download"]) == 0
    assert "could not be verified" in capsys.readouterr().err and BIG not in hub.gets
    assert BIG in st.unverifiable and len(st.unverifiable) == len(st.files)
    assert main(["info"]) == 0
    line = next(
        line
        for line in capsys.readouterr().out.splitlines()
        if f"{DECODER} " in line or DECODER + ":" in line
    )
    assert f"not verified: the server gave no checksum for {len(st.files)} file(s)" in line


# -- 6: signed links that expire -------------------------------------------------------------------
def test_an_expired_signed_link_is_resolved_again(hub, cache) -> None:
    size = len(hub.repos[DECODER].files[BIG])
    hub.faults.signed_links = True
    hub.faults.drop_after[BIG] = 100_000
    fetch(DECODER)
    assert hub.gets[BIG] == [0, 100_000] and hub.sent[BIG] == size
    assert heads_of(hub, BIG) == 2
    assert cache_layout.local_status(DECODER).verified


def test_a_cdn_that_refuses_every_link_gives_no_token_hint(hub, cache) -> None:
    hub.faults.cdn_status = 403
    with pytest.raises(DownloadError, match="download link") as info:
        fetch(DECODER)
    assert "HF_TOKEN" not in str(info.value)
    assert heads_of(hub, BIG) < 6  # asked again a bounded number of times


# -- 7: rate limits --------------------------------------------------------------------------------
def test_retry_after_is_honoured_and_said(hub, cache) -> None:
    hub.faults.retry_after[BIG] = ["1", "1"]
    events: list[DownloadProgress] = []
    fetch(DECODER, on_progress=events.append)
    times = [t for t, method, path in hub.stamps if method == "HEAD" and path.endswith("/" + BIG)]
    assert len(times) == 3
    assert all(b - a >= 0.9 for a, b in itertools.pairwise(times))  # never sooner than the server asked
    waits = [e for e in events if e.phase == "waiting"]
    assert waits and "1 s" in waits[0].note and "429" in waits[0].note


def test_cancel_while_waiting_for_retry_after(hub, cache) -> None:
    hub.faults.retry_after[BIG] = ["40"]
    stop = threading.Event()
    threading.Timer(0.3, stop.set).start()
    started = time.monotonic()
    with pytest.raises(Cancelled):
        fetch(DECODER, cancel=stop)
    assert time.monotonic() - started < 0.3 + 2.0
    assert heads_of(hub, BIG) == 1


def test_retry_after_in_seconds_or_as_an_http_date() -> None:
    from wuerstchen_desktop.core.hub import server_checks

    now = time.time()
    assert server_checks.retry_after({"Retry-After": "40"}) == 40
    date = email.utils.formatdate(now + 40, usegmt=True)
    assert 38 <= (server_checks.retry_after({"retry-after": date}, now=now) or 0) <= 41
    assert (
        server_checks.retry_after({"Retry-After": email.utils.formatdate(now - 60, usegmt=True)}, now=now)
        == 0
    )
    assert server_checks.retry_after({"Retry-After": "soon"}) is None
    assert server_checks.retry_after({}) is None


def test_a_long_retry_after_is_capped(hub, cache, monkeypatch) -> None:
    from wuerstchen_desktop.core.hub import http_failures

    monkeypatch.setattr(http_failures, "MAX_WAIT_S", 0.5)
    hub.faults.retry_after[BIG] = ["86400"]
    events: list[DownloadProgress] = []
    fetch(DECODER, on_progress=events.append)
    waits = [e.note for e in events if e.phase == "waiting"]
    assert waits and "86400 s" in waits[0] and "0.5 s" in waits[0]


# -- the cache stays readable by huggingface_hub -----------------------------------------------------
def test_huggingface_hub_scans_the_cache_we_write(hub, cache) -> None:
    from huggingface_hub import scan_cache_dir

    fetch("warp-ai/wuerstchen-prior")
    hub.faults.weak_etags = True
    hub.faults.listing_hashes = False  # the unverified path names blobs by their content
    fetch(DECODER)
    report = scan_cache_dir(cache)
    assert report.warnings == []
    repos = {r.repo_id: r for r in report.repos}
    assert sorted(repos) == [DECODER, "warp-ai/wuerstchen-prior"]
    (revision,) = repos[DECODER].revisions
    assert revision.commit_hash == hub.repos[DECODER].commit
    by_name = {f.file_name: f for f in revision.files}
    big = next(f for f in revision.files if f.file_path.as_posix().endswith(BIG))
    assert big.blob_path.name == hashlib.sha256(hub.repos[DECODER].files[BIG]).hexdigest()
    assert "model_index.json" in by_name
