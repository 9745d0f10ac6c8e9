"""The server's cost, measured on loopback with the tiny checkpoints (so the model's own time is small and
the server's shows): (a) one job through HTTP against the same job through ``execute``, and apart from
that the cost of moving the image (base64 in JSON); (b) three clients queueing ten jobs each: none lost,
the order fair.

Run with ``python tests/benchmarks/bench_serve.py [--size 512] [--repeats 20]``. One pipeline, loaded
before the clock starts, serves both the local runs and the server (uvicorn in a thread on 127.0.0.1), so
the same weights do the same work; runs alternate local, remote, so drift hits both alike.
"""

from __future__ import annotations

import argparse
import base64
import itertools
import json
import statistics
import tempfile
import threading
import time
from pathlib import Path

import requests

from tests.helpers.serve import running_server, session_from, sse_events
from wuerstchen_desktop.core.jobs.job import Job, JobKind
from wuerstchen_desktop.core.jobs.runner import execute
from wuerstchen_desktop.core.params import GenerationParams
from wuerstchen_desktop.testing import checkpoints


def ms(seconds: float) -> str:
    return f"{seconds * 1000:8.1f} ms"


def overhead(server, size: int, repeats: int) -> None:
    pipe, out = server.engine.pipe, server.engine.out_dir
    body = {"prompt": "a cat", "width": size, "height": size, "seed": 1, "prior_steps": 2, "decoder_steps": 2}
    params = GenerationParams("a cat", width=size, height=size, seed=1, prior_steps=2, decoder_steps=2)
    url = f"http://127.0.0.1:{server.port}/wuerstchen/v1/generate"
    session = requests.Session()
    local, remote, bare, moving = [], [], [], []
    size_json = 0
    for n in range(repeats + 1):  # the first round warms up
        start = time.perf_counter()
        (path,), _ = execute(pipe, Job(params, out, kind=JobKind.GENERATE))
        t_local = time.perf_counter() - start
        # the two remote runs alternate which goes first, so that neither always follows the local run
        for send_files in (True, False) if n % 2 else (False, True):
            start = time.perf_counter()
            reply = session.post(url, json={**body, "send_files": send_files}, timeout=600)
            if send_files:
                answer, t_remote = reply, time.perf_counter() - start
            else:
                t_bare = time.perf_counter() - start
            reply.raise_for_status()
        answer.raise_for_status()
        # Moving the image: what the server and the client do with its bytes, without the network.
        data = path.read_bytes()
        start = time.perf_counter()
        text = json.dumps({"files": [{"file": base64.b64encode(data).decode("ascii")}]})
        base64.b64decode(json.loads(text)["files"][0]["file"])
        t_move = time.perf_counter() - start
        if n:
            local.append(t_local)
            remote.append(t_remote)
            bare.append(t_bare)
            moving.append(t_move)
            size_json = len(answer.content)
    med = statistics.median
    print(f"(a) one {size}x{size} image, 2 prior + 2 decoder steps, {repeats} repeats (medians)")
    print(f"    local, execute():                      {ms(med(local))}")
    print(
        f"    remote, POST /wuerstchen/v1/generate:  {ms(med(remote))}  ({size_json / 1024:.0f} KiB answer)"
    )
    print(f"    remote, the same without the file:     {ms(med(bare))}")
    print(f"    overhead with the image:               {ms(med(remote) - med(local))}")
    print(f"    overhead beyond moving the image:      {ms(med(bare) - med(local))}")
    print(f"    moving the image (base64 + JSON, both ends, no network): {ms(med(moving))}")


def fairness(server, clients: int, jobs: int) -> None:
    """Each client (its own source address) keeps its jobs queued: when the server says its share is
    waiting (429), it waits for its oldest job to end, then sends the next."""
    base = f"http://127.0.0.1:{server.port}/wuerstchen/v1"
    order: list[str] = []

    def started(event) -> None:  # on the worker thread, at the first step of each request
        if event.stage == "prior" and event.step == 1:
            order.append(server.queue.state().job.split(" ", 1)[0])

    server.engine.step_listeners.append(started)
    ids: dict[str, list[str]] = {}
    refused: dict[str, int] = {}

    def client(address: str) -> None:
        session, mine = session_from(address), []
        refused[address] = 0
        for n in range(jobs):
            body = {"prompt": f"{address} {n}", "width": 256, "height": 256, "prior_steps": 2, "wait": False}
            while (r := session.post(f"{base}/compose", json=body, timeout=600)).status_code == 429:
                refused[address] += 1
                for j in mine:  # wait for the oldest that has not ended (none: the queue moved on)
                    if session.get(f"{base}/jobs/{j}", timeout=60).json()["status"] in ("waiting", "running"):
                        sse_events(session.get(f"{base}/jobs/{j}/events", stream=True, timeout=600))
                        break
            r.raise_for_status()
            mine.append(r.json()["job"])
        for j in mine:
            sse_events(session.get(f"{base}/jobs/{j}/events", stream=True, timeout=600))
        ids[address] = mine

    addresses = [f"127.0.0.{n}" for n in range(1, clients + 1)]
    threads = [threading.Thread(target=client, args=(a,)) for a in addresses]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    seconds = time.perf_counter() - start
    server.engine.step_listeners.remove(started)
    done = {
        a: sum(session_from(a).get(f"{base}/jobs/{j}", timeout=60).json()["status"] == "done" for j in ids[a])
        for a in addresses
    }
    names = {a: str(n) for n, a in enumerate(addresses, 1)}
    sequence = "".join(names[c] for c in order)
    gaps = []
    for address in addresses:
        turns = [i for i, c in enumerate(order) if c == address]
        gaps += [b - a - 1 for a, b in itertools.pairwise(turns)]
    print(f"(b) {clients} clients x {jobs} compose jobs in {seconds:.1f} s")
    print(f"    done: {done} (of {jobs} each); ran: {len(order)}; refused with 429 and sent again: {refused}")
    print(f"    order of the clients' jobs: {sequence}")
    rounds = [set(order[i : i + clients]) for i in range(0, len(order), clients)]
    whole = sum(len(r) == clients for r in rounds)
    print(f"    rounds of {clients} that hold every client once: {whole} of {len(rounds)}")
    print(f"    most other jobs between two of one client's: {max(gaps)} (rounds allow {2 * (clients - 1)})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--clients", type=int, default=3)
    parser.add_argument("--jobs", type=int, default=10)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        prior, decoder = root / "wuerstchen-prior", root / "wuerstchen"
        checkpoints.write_prior_repo(prior)
        checkpoints.write_decoder_repo(decoder)
        with running_server(prior, decoder, root / "out") as server:
            server.engine.pipe.load()
            overhead(server, args.size, args.repeats)
            fairness(server, args.clients, args.jobs)


if __name__ == "__main__":
    main()
