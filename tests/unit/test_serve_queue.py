"""The server's queue: one request at a time, in arrival order, taking turns across clients, a bounded
number waiting per client. The worker runs a recording function here: the order is what is tested."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from wuerstchen_desktop.core.errors import QueueFull
from wuerstchen_desktop.core.jobs.job import Job
from wuerstchen_desktop.core.params import GenerationParams
from wuerstchen_desktop.server.jobqueue import JobQueue, Request, State, progress_of


class Recorder:
    """Runs nothing: notes each request's client and tag; the first request waits for ``release``."""

    def __init__(self) -> None:
        self.order: list[str] = []
        self.first_started = threading.Event()
        self.release = threading.Event()

    def __call__(self, request: Request, queue: JobQueue) -> str:
        tag = request.jobs[0].params.prompt if request.jobs[0].params else ""
        if not self.order:
            self.first_started.set()
            assert self.release.wait(60)
        self.order.append(tag)
        return tag


def _jobs(tag: str) -> list[Job]:
    return [Job(GenerationParams(tag), Path("unused"))]


@pytest.fixture
def recorded():
    recorder = Recorder()
    queue = JobQueue(recorder, per_client=3)
    yield recorder, queue
    recorder.release.set()
    queue.close()


def test_clients_take_turns_in_arrival_order(recorded) -> None:
    recorder, queue = recorded
    first = queue.submit("a", _jobs("a0"))
    recorder.first_started.wait(60)  # "a0" runs; everything below waits behind it
    for client, tag in [("a", "a1"), ("a", "a2"), ("a", "a3"), ("b", "b1"), ("b", "b2"), ("c", "c1")]:
        queue.submit(client, _jobs(tag))
    last = queue.submit("c", _jobs("c2"))
    recorder.release.set()
    assert first.future.result(60) == "a0" and last.future.result(60) == "c2"
    # "a" just had its turn, so "b" and "c" go before its second; then round by round
    assert recorder.order == ["a0", "b1", "c1", "a1", "b2", "c2", "a2", "a3"]


def test_a_client_waits_for_its_share_only(recorded) -> None:
    recorder, queue = recorded
    queue.submit("a", _jobs("a0"))
    recorder.first_started.wait(60)
    for tag in ("a1", "a2", "a3"):
        queue.submit("a", _jobs(tag))
    with pytest.raises(QueueFull, match="You already have 3 requests waiting"):
        queue.submit("a", _jobs("a4"))
    assert queue.state().waiting == 3
    last = queue.submit("b", _jobs("b1"))  # another client still gets in
    recorder.release.set()
    last.future.result(60)
    assert "a4" not in recorder.order


def test_progress_counts_jobs_and_stages() -> None:
    assert progress_of(State()) == (0.0, 0.0)
    # the second of two jobs, halfway through its decoder (second of three stages)
    state = State(job_count=2, job_no=1, stage_no=1, sampling_step=3, sampling_steps=6, started=0.0)
    done, _ = progress_of(state)
    assert done == pytest.approx((1 + (1 + 0.5) / 3) / 2)


def test_places_follow_the_turns_and_cancel_takes_a_request_out(recorded) -> None:
    recorder, queue = recorded
    running = queue.submit("a", _jobs("a0"))
    recorder.first_started.wait(60)
    a1, a2 = queue.submit("a", _jobs("a1")), queue.submit("a", _jobs("a2"))
    b1 = queue.submit("b", _jobs("b1"))
    # "a" has had its turn: "b" goes first although it came last
    assert [queue.place(r) for r in (running, a1, a2, b1)] == [None, 2, 3, 1]
    assert [r.status for r in queue.of_client("a")] == ["running", "waiting", "waiting"]
    assert queue.cancel(a1) == "cancelled" and a1.future.cancelled()
    assert [queue.place(r) for r in (a2, b1)] == [2, 1]
    assert queue.find(a1.id, "a") is a1 and queue.find(a1.id, "b") is None  # only its own client sees it
    assert queue.cancel(running) == "running" and running.cancel.is_set()  # it stops at its next step
    recorder.release.set()
    assert b1.future.result(60) == "b1" and a2.future.result(60) == "a2"
    assert recorder.order == ["a0", "b1", "a2"]
    assert [r.status for r in (running, a1, a2, b1)] == ["interrupted", "cancelled", "done", "done"]


def test_a_request_keeps_its_steps_and_only_its_newest_preview() -> None:
    kept: list[list[int]] = []

    def run(request: Request, queue: JobQueue) -> None:
        for step in range(1, 201):
            queue.emit({"stage": "prior", "step": step, "preview": (1, 1, b"\0\0\0")})
            kept.append([e["step"] for e in queue.events(request, 0)[0] if "preview" in e])
        queue.emit({"stage": "decoder", "step": 1})

    queue = JobQueue(run)
    try:
        request = queue.submit("a", _jobs("a0"))
        request.future.result(60)
        events, finished = queue.events(request, 0)
    finally:
        queue.close()
    assert finished and [e["step"] for e in events] == [*range(1, 201), 1]
    assert kept == [[step] for step in range(1, 201)]  # while it runs: the newest preview alone
    # a finished request keeps its newest preview alone, for a stream that reads it late
    assert [e["step"] for e in events if "preview" in e] == [200]
    newest = {"stage": "prior", "step": 200, "preview": (1, 1, b"\0\0\0")}
    assert queue.events(request, 199)[0] == [newest, {"stage": "decoder", "step": 1}]
