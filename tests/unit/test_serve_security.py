"""Who may use ``serve``: loopback needs no token; any other address makes one (owner-only, in the data
folder) that every request must carry as a bearer header. Bodies are bounded; queues too."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
import requests

from tests.helpers.cli import run_user_error
from tests.helpers.serve import api, running_server
from wuerstchen_desktop.core import appdirs
from wuerstchen_desktop.server.app import MAX_BODY_BYTES
from wuerstchen_desktop.server.auth import authorized, is_loopback, token_for


@pytest.fixture
def token_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "data" / "server-token"
    monkeypatch.setattr(appdirs, "server_token_file", lambda: path)
    return path


def test_loopback_needs_no_token_and_other_addresses_make_one(token_file) -> None:
    for host in ("127.0.0.1", "127.8.0.1", "::1", "localhost"):
        assert is_loopback(host) and token_for(host) is None
    assert not token_file.exists()
    token = token_for("0.0.0.0")
    assert token is not None and len(token) >= 32
    if os.name == "posix":
        assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    assert token_for("192.168.1.20") == token == token_file.read_text().strip()  # made once, kept
    assert token_for("studio.local") == token  # a name may resolve anywhere: a token too


@pytest.mark.skipif(os.name != "posix", reason="POSIX permission bits")
def test_a_widened_token_file_is_narrowed_again(token_file) -> None:
    token = token_for("0.0.0.0")
    token_file.chmod(0o644)
    assert token_for("0.0.0.0") == token and stat.S_IMODE(token_file.stat().st_mode) == 0o600


def test_authorized_compares_the_bearer_token() -> None:
    assert authorized(None, None) and authorized("Bearer x", None)
    assert authorized("Bearer s3cret-token", "s3cret-token")
    assert authorized("bearer s3cret-token", "s3cret-token")
    for header in (None, "", "Bearer", "Bearer s3cret-tokeN", "Basic s3cret-token", "s3cret-token"):
        assert not authorized(header, "s3cret-token")


def test_beyond_loopback_every_request_needs_the_token(prior_dir, decoder_dir, tmp_path, token_file) -> None:
    token = token_for("0.0.0.0")
    with running_server(prior_dir, decoder_dir, tmp_path / "out", host="0.0.0.0", token=token) as server:
        url = f"http://127.0.0.1:{server.port}/sdapi/v1"
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {token}"}):
            r = requests.get(f"{url}/sd-models", headers=headers, timeout=60)
            assert r.status_code == 401, headers
            assert r.json()["detail"] == (
                "This server needs its token: send it as `Authorization: Bearer TOKEN`."
            )
        r = requests.post(f"{url}/txt2img", json={"prompt": "a cat"}, timeout=60)
        assert r.status_code == 401 and not (tmp_path / "out").exists()
        assert [m["model_name"] for m in api(server, token).get_sd_models()] == [prior_dir.name]


def test_bodies_past_the_limit_are_refused(prior_dir, decoder_dir, tmp_path) -> None:
    with running_server(prior_dir, decoder_dir, tmp_path / "out") as server:
        url = f"http://127.0.0.1:{server.port}/sdapi/v1/txt2img"
        big = b'{"prompt": "' + b"x" * MAX_BODY_BYTES + b'"}'
        declared = requests.post(url, data=big, headers={"Content-Type": "application/json"}, timeout=60)
        chunked = requests.post(
            url, data=iter([big[:1000], big[1000:]]), headers={"Content-Type": "application/json"}, timeout=60
        )
        for r in (declared, chunked):
            assert r.status_code == 413
            assert r.json()["detail"] == "The request is larger than the 1024 KiB this server accepts."
        assert not (tmp_path / "out").exists()


def test_a_full_queue_is_a_429_with_a_sentence(prior_dir, decoder_dir, tmp_path) -> None:
    with running_server(prior_dir, decoder_dir, tmp_path / "out") as server:
        server.queue.per_client = 0
        with pytest.raises(RuntimeError) as caught:
            api(server).txt2img(prompt="a cat", width=256, height=256, steps=1)
        status, body = caught.value.args
        assert status == 429 and "the most one client may queue" in body


def test_a_busy_port_is_one_line(prior_dir, decoder_dir, tmp_path, capsys) -> None:
    from wuerstchen_desktop.server.run import open_socket

    taken = open_socket("127.0.0.1", 0)
    try:
        port = str(taken.getsockname()[1])
        line = run_user_error(
            capsys,
            [
                "serve",
                "--port",
                port,
                "--prior",
                str(prior_dir),
                "--decoder",
                str(decoder_dir),
                "--out",
                str(tmp_path / "out"),
            ],
        )
    finally:
        taken.close()
    assert line.startswith(f"Error: Cannot listen on 127.0.0.1 port {port}: ")
    assert line.endswith("Choose another --port, or stop the program using it.")


def test_the_serve_command_answers_and_stops_on_ctrl_c(prior_dir, decoder_dir, tmp_path) -> None:
    import signal
    import subprocess
    import sys

    argv = ["serve", "--port", "0", "--prior", str(prior_dir), "--decoder", str(decoder_dir)]
    command = [sys.executable, "-m", "wuerstchen_desktop", *argv, "--out", str(tmp_path / "out")]
    process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True, encoding="utf-8")
    try:
        assert process.stderr is not None
        line = process.stderr.readline()  # said once the socket listens: connections wait from then on
        assert line.startswith("Serving the A1111 API on http://127.0.0.1:"), line
        port = int(line.split("127.0.0.1:", 1)[1].split("/", 1)[0])
        r = requests.get(f"http://127.0.0.1:{port}/sdapi/v1/sd-models", timeout=60)
        assert r.status_code == 200 and r.json()[0]["model_name"] == prior_dir.name
        process.send_signal(signal.SIGINT)
        assert process.wait(60) == 0
        assert process.stderr.read().splitlines()[-1] == "Stopped."
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert (tmp_path / "out").is_dir()


def test_connections_send_answers_without_waiting_for_acks() -> None:
    """Nagle's algorithm off on the listening socket, so on every connection it accepts: an answer's body
    does not wait for the client's delayed ACK of its headers."""
    import socket

    from wuerstchen_desktop.server.run import open_socket

    listening = open_socket("127.0.0.1", 0)
    client = socket.create_connection(listening.getsockname(), timeout=60)
    accepted, _ = listening.accept()
    try:
        assert accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
    finally:
        for s in (accepted, client, listening):
            s.close()
