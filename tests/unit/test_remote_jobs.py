"""What a window job becomes on a server's routes, the server's events read as they come, a server's
address checked, and the client token kept owner-only."""

from __future__ import annotations

import base64
import json
import os
import stat
from pathlib import Path

import pytest

from wuerstchen_desktop.core.errors import RemoteError
from wuerstchen_desktop.core.jobs.job import Job, JobKind
from wuerstchen_desktop.core.params import GenerationParams
from wuerstchen_desktop.core.settings import Settings
from wuerstchen_desktop.worker.remote_http import SseParser
from wuerstchen_desktop.worker.remote_jobs import load_token, request_for, save_answer, save_token


@pytest.mark.parametrize(
    ("text", "kept"),
    [
        ("http://studio-pc:7861", "http://studio-pc:7861"),
        (" https://192.168.1.20:7861/ ", "https://192.168.1.20:7861"),
        ("http://[::1]:7861", "http://[::1]:7861"),
        ("", ""),
        ("studio-pc:7861", None),
        ("http://studio-pc:99999", None),
        ("http://studio-pc:7861/sdapi/v1", None),
        ("file:///etc/passwd", None),
    ],
)
def test_server_addresses(text: str, kept: str | None) -> None:
    settings, warnings = Settings.from_mapping({"server_url": text, "run_on": "server"})
    assert settings.run_on == "server"
    assert settings.server_url == (kept if kept is not None else "") and bool(warnings) == (kept is None)


def test_the_token_file_is_owner_only_and_replaced_whole(tmp_path: Path) -> None:
    path = tmp_path / "data" / "client-token"
    assert load_token(path) == ""
    save_token(" s3cret \n", path)
    assert load_token(path) == "s3cret"
    if os.name == "posix":
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        path.chmod(0o644)
        save_token("another", path)
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in path.parent.iterdir()] == ["client-token"]
    save_token("", path)
    assert not path.exists()


def test_jobs_become_requests(tmp_path: Path) -> None:
    p = GenerationParams("a cat", width=256, height=384, seed=7, images=2, prior_steps=3, decoder_steps=2)
    route, body = request_for(Job(p, tmp_path, kind=JobKind.COMPOSE))
    assert route == "compose" and body["wait"] is False and body["send_files"] is True
    assert {k: body[k] for k in ("prompt", "width", "height", "seed", "images", "prior_steps")} == {
        "prompt": "a cat", "width": 256, "height": 384, "seed": 7, "images": 2, "prior_steps": 3,
    }  # fmt: skip
    composition = tmp_path / "c.png"
    composition.write_bytes(b"\x89PNG composition")
    decode = Job(None, tmp_path, kind=JobKind.DECODE, sources=(composition,), changes=(("decoder_steps", 9),))
    route, body = request_for(decode)
    assert route == "decode" and base64.b64decode(body["composition"]) == b"\x89PNG composition"
    assert body["decoder_steps"] == 9
    blend = Job(None, tmp_path, kind=JobKind.BLEND, sources=(composition, composition), weight=0.25)
    route, body = request_for(blend)
    assert route == "blend" and len(body["compositions"]) == 2 and body["weight"] == 0.25


@pytest.mark.parametrize(
    ("job", "sentence"),
    [
        (lambda d: Job(None, d, kind=JobKind.UPSCALE, start=d / "p.png"), "Upscale 2x does not run"),
        (lambda d: Job(GenerationParams("x"), d, start=d / "p.png"), "Starting from a picture does not run"),
        (lambda d: Job(None, d, sources=(d / "p.png",)), "Varying a history item does not run"),
        (
            lambda d: Job(GenerationParams("x", strength=0.5, source="ab" * 32), d),
            "These settings do not run",
        ),
        (
            lambda d: Job(GenerationParams("a red cat", prompt_template="a {red|blue} cat"), d),
            "Wildcards do not run",
        ),
        (lambda d: Job(GenerationParams("x", weighting="none"), d), "These settings do not run"),
    ],
)
def test_what_a_server_cannot_do_yet_is_said(job, sentence: str, tmp_path: Path) -> None:
    with pytest.raises(RemoteError, match=sentence) as caught:
        request_for(job(tmp_path))
    assert "Run it on this computer (Settings → Run on)" in str(caught.value)


def test_events_are_read_as_they_come_in_any_pieces() -> None:
    stream = (
        b'event: status\ndata: {"status": "running"}\n\n'
        b'event: step\r\ndata: {"step": 1}\r\n\r\n'
        b": a comment\n\n"
        b'event: step\ndata: {"step": 2}\n\n'
    )
    parser, events = SseParser(), []
    for i in range(0, len(stream), 7):
        events += parser.feed(stream[i : i + 7])
    assert events == [("status", {"status": "running"}), ("step", {"step": 1}), ("step", {"step": 2})]


def test_an_answer_the_window_cannot_read_saves_nothing(tmp_path: Path) -> None:
    job = Job(GenerationParams("x"), tmp_path / "out")
    for raw in (
        b"not json",
        json.dumps({"files": [{"file": "!!", "kind": "image", "parameters": {}}]}).encode(),
    ):
        with pytest.raises(RemoteError, match="Use the same version of Würstchen Desktop on both computers"):
            save_answer(raw, job)
    assert not (tmp_path / "out").exists()
