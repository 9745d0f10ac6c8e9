"""The server's queue: one worker thread runs one request at a time, in arrival order, taking turns
across clients (round robin), with a bounded number of waiting requests per client.

A request is a list of jobs for the runner (an A1111 ``n_iter`` makes one job per iteration) and a
future its HTTP handler awaits. The worker keeps a ``State`` the progress endpoint reads: what runs,
its step, and the latest live preview. What the worker does with a request is the ``Run`` it is given,
so the order and bounds here know nothing of models.
"""

from __future__ import annotations

import itertools
import secrets
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from wuerstchen_desktop.core.errors import QueueFull
from wuerstchen_desktop.core.jobs.job import Job

MAX_WAITING_PER_CLIENT = 4
KEPT_FINISHED = 256  # finished requests still answered by id (their files are on disk, not in memory)


@dataclass(eq=False)  # one request is itself alone
class Request:
    """One client's request: its jobs run back to back; ``cancel`` stops the one running and the rest."""

    client: str
    jobs: list[Job]
    future: Future[Any] = field(default_factory=Future)
    cancel: threading.Event = field(default_factory=threading.Event)
    seq: int = 0  # arrival order
    id: str = field(default_factory=lambda: secrets.token_hex(8))
    kind: str = "generate"
    # waiting, running, then done, failed, interrupted (stopped while running) or cancelled (never ran)
    status: str = "waiting"
    # What happened while it ran, in order, for its event stream: one dict per step (see ``emit``).
    events: list[dict[str, Any]] = field(default_factory=list)

    @property
    def finished(self) -> bool:
        return self.status in ("done", "failed", "interrupted", "cancelled")


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


def _turn(served: dict[str, int], waiting: dict[str, deque[Request]]) -> str:
    """Whose request runs next: the client served least, then the one whose oldest request came first."""
    return min(waiting, key=lambda c: (served.get(c, 0), waiting[c][0].seq))


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
        self._known: OrderedDict[str, Request] = OrderedDict()  # by id: waiting, running, recently finished
        self._closed = False
        self._thread = threading.Thread(target=self._loop, name="serve-worker", daemon=True)
        self._thread.start()

    def submit(self, client: str, jobs: list[Job], kind: str = "generate") -> Request:
        """Queue a request behind the ones waiting; ``QueueFull`` when ``client`` has its share waiting."""
        with self._lock:
            request = Request(client, jobs, seq=next(self._arrivals), kind=kind)
            mine = self._waiting.setdefault(client, deque())
            if len(mine) >= self.per_client:
                if not mine:
                    del self._waiting[client]
                raise QueueFull(
                    f"You already have {len(mine)} requests waiting, the most one client may queue.",
                    "Wait for one to finish, then send the next.",
                )
            mine.append(request)
            self._remember(request)
            self._lock.notify()
        return request

    def _remember(self, request: Request) -> None:
        self._known[request.id] = request
        finished = [k for k, r in self._known.items() if r.finished]
        for key in finished[: max(0, len(finished) - KEPT_FINISHED)]:
            del self._known[key]

    def _next(self) -> Request | None:
        """The oldest request of the client served least (round robin); None once closed."""
        with self._lock:
            while not self._closed and not self._waiting:
                self._lock.wait()
            if self._closed:
                return None
            client = _turn(self._served, self._waiting)
            mine = self._waiting[client]
            request = mine.popleft()
            self._served[client] = self._served.get(client, 0) + 1
            if not mine:
                del self._waiting[client]
            self._current = request
            request.status = "running"
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
                self._finish("cancelled")
                continue
            try:
                result = self._run(request, self)
            except BaseException as exc:  # the worker outlives any request; its caller hears why
                self._finish("failed")
                request.future.set_exception(exc)
            else:
                # idle before the answer leaves, so the client's next look sees it
                self._finish("interrupted" if request.cancel.is_set() else "done")
                request.future.set_result(result)

    def _finish(self, status: str) -> None:
        with self._lock:
            if self._current is not None:
                # Its newest preview stays (at most 110 KB, for 2048x2048; KEPT_FINISHED of them): a
                # stream that reads the job only after it ended still shows Stage C's last picture.
                self._current.status = status
            if self._current is not None and self._current.client not in self._waiting:
                del self._served[self._current.client]  # its turn is over and it asks for nothing more
            self._current = None
            self._state = State()

    def update(self, **changes: Any) -> None:
        """Called by ``run`` on the worker thread as the request moves on."""
        with self._lock:
            for name, value in changes.items():
                setattr(self._state, name, value)

    def emit(self, event: dict[str, Any]) -> None:
        """Called by ``run`` on the worker thread: one more event in the running request's stream."""
        with self._lock:
            request = self._current
            if request is None:
                return
            if "preview" in event:
                # Only the newest preview is kept: a 2048x2048 job of 16 runs at 200 steps would hold
                # 350 MB of them; a stream that lags behind skips to the newest picture.
                for earlier in reversed(request.events):
                    if earlier.pop("preview", None) is not None:
                        break
            request.events.append(event)

    def events(self, request: Request, start: int) -> tuple[list[dict[str, Any]], bool]:
        """The events of ``request`` from number ``start`` on, and whether it has finished (no more come).
        Copies: ``emit`` takes the preview out of an earlier event on the worker thread while a stream
        may be reading it."""
        with self._lock:
            return [dict(e) for e in request.events[start:]], request.finished

    def find(self, job_id: str, client: str) -> Request | None:
        """``client``'s request ``job_id`` (waiting, running or recently finished); None for anyone else's."""
        with self._lock:
            request = self._known.get(job_id)
            return request if request is not None and request.client == client else None

    def of_client(self, client: str) -> list[Request]:
        """``client``'s requests known here (waiting, running, recently finished), oldest first."""
        with self._lock:
            return [r for r in self._known.values() if r.client == client]

    def place(self, request: Request) -> int | None:
        """``request``'s place in the order the worker will take the requests waiting now (1: next), turns
        across clients included; None unless it waits."""
        with self._lock:
            served = dict(self._served)
            waiting = {c: deque(q) for c, q in self._waiting.items()}
            place = 0
            while waiting:
                client = _turn(served, waiting)
                place += 1
                if waiting[client].popleft() is request:
                    return place
                served[client] = served.get(client, 0) + 1
                if not waiting[client]:
                    del waiting[client]
            return None

    def cancel(self, request: Request) -> str:
        """Take ``request`` out of the queue if it waits, stop it if it runs; returns its status after."""
        with self._lock:
            mine = self._waiting.get(request.client)
            if mine is not None and any(r is request for r in mine):
                mine.remove(request)
                if not mine:
                    del self._waiting[request.client]
                request.status = "cancelled"
                request.future.cancel()
            elif self._current is request:
                request.cancel.set()
                self._state.interrupted = True
            return request.status

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
                    request.status = "cancelled"
                    request.future.cancel()
            self._waiting.clear()
            if self._current is not None:
                self._current.cancel.set()
            self._lock.notify_all()
        self._thread.join()
