"""``serve`` in its own process, as a user starts it, driven by ``webuiapi``; killed (SIGKILL) in the middle
of a job, it leaves no half-written file where a gallery looks, and started again it serves again."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import requests
from PIL import Image

from wuerstchen_desktop.core.atomicfile import TEMP_PREFIX
from wuerstchen_desktop.core.imagefile.read import read_record

FAST = {"width": 256, "height": 256, "steps": 2}


class Served:
    """``python -m wuerstchen_desktop serve`` on a free port, its address read from its first line."""

    def __init__(self, prior: Path, decoder: Path, out: Path) -> None:
        argv = ["serve", "--port", "0", "--prior", str(prior), "--decoder", str(decoder), "--out", str(out)]
        env = {**os.environ, "OMP_NUM_THREADS": "1"}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "wuerstchen_desktop", *argv], stderr=subprocess.PIPE, text=True, env=env
        )
        assert self.process.stderr is not None
        line = self.process.stderr.readline()  # said once the socket listens
        assert "http://127.0.0.1:" in line, line
        self.port = int(line.split("127.0.0.1:", 1)[1].split("/", 1)[0])
        self.url = f"http://127.0.0.1:{self.port}/sdapi/v1"

    def ready(self) -> dict:
        """The options, once the server answers (connections wait in the socket's backlog until then)."""
        r = requests.get(f"{self.url}/options", timeout=120)
        assert r.status_code == 200
        return r.json()

    def client(self):
        import webuiapi

        return webuiapi.WebUIApi(host="127.0.0.1", port=self.port)

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
        self.process.wait(60)
        assert self.process.stderr is not None
        self.process.stderr.close()


@pytest.mark.skipif(os.name != "posix", reason="SIGKILL")
def test_killed_mid_job_leaves_whole_files_and_serves_again(prior_dir, decoder_dir, tmp_path) -> None:
    out = tmp_path / "out"
    server = Served(prior_dir, decoder_dir, out)
    lost: list[BaseException] = []

    def long_request() -> None:  # answered by no one: the server dies under it
        body = {"prompt": "a killed cat", "seed": 5, "n_iter": 16, "decoder_steps": 2, **FAST}
        try:
            requests.post(f"{server.url}/txt2img", json=body, timeout=300)
        except requests.exceptions.ConnectionError as exc:
            lost.append(exc)

    sender = threading.Thread(target=long_request)
    try:
        assert server.ready()["sd_model_checkpoint"] == prior_dir.name
        first = server.client().txt2img(prompt="a cat", seed=1, **FAST)
        assert len(first.images) == 1
        sender.start()
        while True:  # until the request has saved a file and steps in the next one (no clock involved)
            state = requests.get(f"{server.url}/progress", timeout=60).json()["state"]
            if state["job_no"] >= 1 and state["sampling_step"] >= 1:
                break
        server.kill()
        sender.join(60)
        assert len(lost) == 1  # the client heard the server go
    finally:
        server.kill()
    files = [p for p in out.rglob("*") if p.is_file()]
    made = [p for p in files if not p.name.startswith(TEMP_PREFIX)]
    assert len([p for p in made if "killed" in p.name]) >= 1
    for path in made:  # each whole: its pixels decode, its record reads
        with Image.open(path) as im:
            im.load()
        assert read_record(path).params.width == 256
    assert all(p.name.startswith(TEMP_PREFIX) for p in files if p not in made)  # hidden, cleaned later
    # Started again on the same folder: it serves as before.
    again = Served(prior_dir, decoder_dir, out)
    try:
        again.ready()
        result = again.client().txt2img(prompt="a cat again", seed=2, **FAST)
        assert len(result.images) == 1 and read_record(next(out.rglob("*-a-cat-again.png"))).params.seed == 2
    finally:
        again.kill()
