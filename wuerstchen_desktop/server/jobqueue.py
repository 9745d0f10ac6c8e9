"""The server's queue: one worker thread runs one request at a time, in arrival order, taking turns
across clients (round robin), with a bounded number of waiting requests per client.

A request is a list of jobs for the runner (an A1111 ``n_iter`` makes one job per iteration) and a
future its HTTP handler awaits. The worker keeps a ``State`` the progress endpoint reads: what runs,
its step, and the latest live preview. What the worker does with a request is the ``Run`` it is given,
so the order and bounds here know nothing of models.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from wuerstchen_desktop.core.errors import QueueFull
from wuerstchen_desktop.core.jobs.job import Job

MAX_WAITING_PER_CLIENT = 4


@dataclass
class Request:
    """One client's request: its jobs run back to back; ``cancel`` stops the one running and the rest."""

    client: str
    jobs: list[Job]
    future: Future[Any] = field(default_factory=Future)
    cancel: threading.Event = field(default_factory=threading.Event)
    seq: int = 0  # arrival order


@dataclass
class State:
    """What the worker is doing, as A1111's ``/progress`` reports it (``as_dict`` is its ``state``)."""

    job: str = ""
    job_count: int = 0  # jobs of the running request (A1111: its n_iter); 0 when idle
    job_no: int = 0
    job_timestamp: str = "0"
    sampling_step: int = 0
    sampling_steps: int = 0
    stage: str = ""
    stage_no: int = 0  # 0 prior, 1 decoder, 2 VQGAN decode
    interrupted: bool = False
    started: float = 0.0  # time.monotonic() when the request began
    preview: tuple[int, int, bytes] | None = None  # width, height, RGB888 of the first image's Stage C
    waiting: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "skipped": False,
            "interrupted": self.interrupted,
            "stopping_generation": False,
            "job": self.job,
            "job_count": self.job_count,
            "job_timestamp": self.job_timestamp,
            "job_no": self.job_no,
            "sampling_step": self.sampling_step,
            "sampling_steps": self.sampling_steps,
            "stage": self.stage,
            "queued": self.waiting,
        }


STAGES = 3  # prior, decoder, VQGAN decode: each a third of a job's progress


def progress_of(state: State) -> tuple[float, float]:
    """(progress 0..1, seconds left) of the running request; (0, 0) when idle or not yet stepping."""
    if state.job_count == 0 or state.sampling_steps == 0:
        return 0.0, 0.0
    in_job = (state.stage_no + state.sampling_step / state.sampling_steps) / STAGES
    done = min((state.job_no + in_job) / state.job_count, 1.0)
    elapsed = time.monotonic() - state.started
    return done, (elapsed / done - elapsed) if done > 0 else 0.0


Run = Callable[[Request, "JobQueue"], Any]  # runs a request on the worker thread; returns its result


class JobQueue:
    """Requests from many clients, run one at a time on one thread by ``run``."""

    def __init__(self, run: Run, per_client: int = MAX_WAITING_PER_CLIENT) -> None:
        self._run = run
        self.per_client = per_client
        self._waiting: dict[str, deque[Request]] = {}
        # Requests started per client since it last had nothing running or waiting: the fewest goes
        # next, so a client that floods the queue takes turns with the others instead of going first.
        self._served: dict[str, int] = {}
        self._arrivals = itertools.count()
        self._lock = threading.Condition()
        self._state = State()
        self._current: Request | None = None
        self._closed = False
        self._thread = threading.Thread(target=self._loop, name="serve-worker", daemon=True)
        self._thread.start()

    def submit(self, client: str, jobs: list[Job]) -> Request:
        """Queue a request behind the ones waiting; ``QueueFull`` when ``client`` has its share waiting."""
        with self._lock:
            request = Request(client, jobs, seq=next(self._arrivals))
            mine = self._waiting.setdefault(client, deque())
            if len(mine) >= self.per_client:
                if not mine:
                    del self._waiting[client]
                raise QueueFull(
                    f"You already have {len(mine)} requests waiting, the most one client may queue.",
                    "Wait for one to finish, then send the next.",
                )
            mine.append(request)
            self._lock.notify()
        return request

    def _next(self) -> Request | None:
        """The oldest request of the client served least (round robin); None once closed."""
        with self._lock:
            while not self._closed and not self._waiting:
                self._lock.wait()
            if self._closed:
                return None
            client = min(self._waiting, key=lambda c: (self._served.get(c, 0), self._waiting[c][0].seq))
            mine = self._waiting[client]
            request = mine.popleft()
            self._served[client] = self._served.get(client, 0) + 1
            if not mine:
                del self._waiting[client]
            self._current = request
            self._state = State(
                job=f"{client} request",
                job_count=len(request.jobs),
                job_timestamp=time.strftime("%Y%m%d%H%M%S"),
                started=time.monotonic(),
            )
            return request

    def _loop(self) -> None:
        while (request := self._next()) is not None:
            if not request.future.set_running_or_notify_cancel():
                self._finish()
                continue
            try:
                result = self._run(request, self)
            except BaseException as exc:  # the worker outlives any request; its caller hears why
                self._finish()
                request.future.set_exception(exc)
            else:
                self._finish()  # idle before the answer leaves, so the client's next look sees it
                request.future.set_result(result)

    def _finish(self) -> None:
        with self._lock:
            if self._current is not None and self._current.client not in self._waiting:
                del self._served[self._current.client]  # its turn is over and it asks for nothing more
            self._current = None
            self._state = State()

    def update(self, **changes: Any) -> None:
        """Called by ``run`` on the worker thread as the request moves on."""
        with self._lock:
            for name, value in changes.items():
                setattr(self._state, name, value)

    def state(self) -> State:
        """A copy of the worker's state, with the number of requests waiting."""
        with self._lock:
            waiting = sum(len(q) for q in self._waiting.values())
            return State(**{**self._state.__dict__, "waiting": waiting})

    def interrupt(self) -> bool:
        """Stop the running request after its current step; the ones waiting still run."""
        with self._lock:
            if self._current is None:
                return False
            self._current.cancel.set()
            self._state.interrupted = True
            return True

    def close(self) -> None:
        """Stop after the running request; requests still waiting are cancelled."""
        with self._lock:
            self._closed = True
            for mine in self._waiting.values():
                for request in mine:
                    request.future.cancel()
            self._waiting.clear()
            if self._current is not None:
                self._current.cancel.set()
            self._lock.notify_all()
        self._thread.join()
