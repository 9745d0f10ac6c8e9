"""The window's jobs run on a server (``wuerstchen-desktop serve`` elsewhere): ``RemoteService`` has the
signals and methods of ``GenerationService``, so the window cannot tell the two apart.

The queue stays here, in the window: one job at a time goes to the server's ``/wuerstchen/v1`` routes
(``wait`` false), its server-sent events give the progress and the live previews, and once it is done its
files (byte for byte the server's: they carry our records) are saved in the local output folder under the
window's own names. When the server stops answering, the running job and the waiting ones stay in the
queue; the server is asked again with a growing pause, and then the running job is followed again (or
sent again, when the server no longer knows it). A job's files are saved only once, when it ends.
"""

from __future__ import annotations

import dataclasses
import logging
import time
import traceback
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from PySide6.QtCore import QObject, QTimer, Signal, Slot
from PySide6.QtNetwork import QNetworkReply

from wuerstchen_desktop.core.errors import WuerstchenError
from wuerstchen_desktop.core.jobs.estimate import JobProgress, JobTracker, StageCosts
from wuerstchen_desktop.core.jobs.job import EngineConfig, Job, JobError, JobResult, Preview
from wuerstchen_desktop.core.params import GenerationParams
from wuerstchen_desktop.core.settings import Settings
from wuerstchen_desktop.worker.generation import GenerationService
from wuerstchen_desktop.worker.remote_http import Answer, Http, describe, refused_token
from wuerstchen_desktop.worker.remote_jobs import (
    PREFIX,
    Fetched,
    detail_of,
    load_token,
    request_for,
    save_answer,
)

log = logging.getLogger(__name__)

RETRY_FIRST_S, RETRY_MOST_S = 1.0, 30.0  # the pause before asking a silent server again, doubling
ENDED = ("done", "failed", "interrupted", "cancelled")


class RemoteService(GenerationService):
    """The window's handle on a server: a job queue here, in front of the server's. Inherits only the
    signals and the queue's reading methods; nothing of the local worker is created."""

    _from_thread = Signal(object, object)  # what to call on the GUI thread, with what a thread made

    def __init__(self, base: str, token: str, parent: QObject | None = None) -> None:
        QObject.__init__(self, parent)  # no worker thread: the network calls answer on this one
        self.base = base.rstrip("/")
        self.http = Http(self.base, token, self)
        self._pending: deque[Job] = deque()
        self._running: Job | None = None
        self._costs = StageCosts()
        self.last_progress: JobProgress | None = None
        self._remote: str | None = None  # the server's id of the running job, once it has accepted it
        self._started: set[int] = set()  # jobs whose start was reported (a job sent again starts once)
        self._stream: QNetworkReply | None = None
        self._tracker: JobTracker | None = None
        self._began = 0.0
        self.lost = False  # the server stopped answering: the queue waits for it
        self.refused = ""  # why the server refuses us (the token): jobs fail at once until it changes
        self._retry_s = RETRY_FIRST_S
        self._short = ""  # the server's address, device and precision, once it has said them
        self._retry = QTimer(self, singleShot=True)
        self._retry.timeout.connect(self._ask_again)
        self._stream_no = 0  # which stream is the running job's (an old one may report after it)
        self._files = ThreadPoolExecutor(1, thread_name_prefix="remote-files")
        self._closing = False
        self._from_thread.connect(self._deliver)

    # -- what the window calls ------------------------------------------------------------------------
    def warm_up(self, likely: GenerationParams | None = None) -> None:
        """Ask the server what it runs; the engine line says it (or why it cannot be used)."""
        self.engine_status.emit(self.tr("Connecting to {0}…").format(self.base))
        self.http.call("GET", "/sdapi/v1/options", None, self._probed, 15_000)

    def reconfigure(self, config: EngineConfig) -> None:
        """The server chooses its own models and device: nothing here changes with them."""

    def connect_to(self, base: str, token: str) -> None:
        """Another address or token (from the next call on): a refused token is tried again."""
        self.base = base.rstrip("/")
        self.http.base, self.http.token = self.base, token
        self.refused = ""
        self.warm_up()

    def use(self, settings: Settings) -> None:
        """The settings as saved: another address or token is used from the next call on."""
        token = load_token()
        if settings.server_url.rstrip("/") != self.base or token != self.http.token:
            self.connect_to(settings.server_url, token)

    def refresh_previewer(self) -> None:
        """Previews come from the server's own previewer."""

    def cancel_current(self) -> None:
        job = self._running
        if job is None:
            return
        job.cancel.set()
        if self._stream is not None and not self.lost:  # its stream says when it has stopped
            self.http.call("DELETE", f"{PREFIX}/jobs/{self._remote}", None, self._cancel_answered)
        elif self._remote is None and not self.lost:
            return  # its request is on its way: the answer cancels it
        else:
            if self._remote is not None and not self.lost:
                self.http.call("DELETE", f"{PREFIX}/jobs/{self._remote}", None, lambda _: None)
            self._end(job, self.job_cancelled, job.id)

    def shutdown(self, timeout_ms: int = 30_000) -> bool:
        self.cancel_all()
        self._retry.stop()
        self._closing = True
        if self._stream is not None:
            self._stream.abort()
        self._files.shutdown(wait=True, cancel_futures=True)
        return True

    # -- the queue --------------------------------------------------------------------------------
    def _next(self) -> None:
        if self._running is not None or not self._pending or self.lost:
            return
        job = self._running = self._pending.popleft()
        self.queue_changed.emit(len(self._pending))
        if self.refused:  # said at once, not sent: the token must change first
            self._fail(job, self.refused)
            return
        self._send(job)

    def _send(self, job: Job) -> None:
        """Build the request off this thread (it may read files), then send it."""
        self._remote, self._began = None, time.monotonic()
        self._in_thread(lambda: request_for(job), lambda built: self._post(job, built))

    def _post(self, job: Job, built: Any) -> None:
        if job is not self._running:
            return
        if isinstance(built, BaseException):
            self._fail(job, built)
            return
        if job.cancel.is_set():
            self._end(job, self.job_cancelled, job.id)
            return
        route, body = built
        self.http.call("POST", f"{PREFIX}/{route}", body, lambda a: self._accepted(job, a))

    def _accepted(self, job: Job, answer: Answer) -> None:
        if job is not self._running:
            return
        if not answer.reached:
            self._lose(answer)
            return
        data = answer.json()
        if answer.status != 202 or not isinstance(data, dict) or "job" not in data:
            self._refuse_or_fail(job, answer)
            return
        self._remote = str(data["job"])
        if job.cancel.is_set():
            self.cancel_current()  # not followed yet: told to the server, and over here at once
            return
        if job.id not in self._started:
            self._started.add(job.id)
            self.job_started.emit(job.id)
            self._say_engine()
        self._follow(job)

    def _follow(self, job: Job) -> None:
        """Read the job's events: its steps, its previews, how it ended."""
        self._tracker = JobTracker(job, self._costs, time.monotonic())
        self._stream_no += 1
        number = self._stream_no
        path = f"{PREFIX}/jobs/{self._remote}/events?previews=true"
        self._stream = self.http.stream(
            path, lambda n, d: self._event(job, n, d), lambda a: self._closed(job, number, a)
        )

    def _event(self, job: Job, name: str, data: Any) -> None:
        if log.isEnabledFor(logging.DEBUG) and isinstance(data, dict):
            said = {k: v for k, v in data.items() if k not in ("preview", "files")}
            log.debug("job %d: %s %s%s", job.id, name, said, " with a preview" if data.get("preview") else "")
        if job is not self._running or not isinstance(data, dict):
            return
        if name == "step" and self._tracker is not None:
            self._step(job, data)
        elif name == "status" and data.get("status") in ENDED:
            self._stream_end(job, data)

    def _step(self, job: Job, data: dict[str, Any]) -> None:
        assert self._tracker is not None
        stage, step, total = str(data.get("stage", "")), int(data.get("step", 0)), int(data.get("total", 1))
        progress = self._tracker.step(stage, step, total, time.monotonic())
        self._costs = progress.costs
        left = float(data.get("eta", -1.0))
        self.progress.emit(job.id, stage, step, total, left)
        waiting = self.waiting_seconds()
        queue = progress.seconds_left + waiting if progress.seconds_left >= 0 and waiting >= 0 else -1.0
        self.last_progress = dataclasses.replace(progress, queue_seconds_left=queue)
        self.job_progress.emit(self.last_progress)
        if data.get("preview"):
            preview = _preview(job, step, total, str(data["preview"]))
            if preview is not None:
                self.preview.emit(preview)

    def _stream_end(self, job: Job, data: dict[str, Any]) -> None:
        status = data["status"]
        stream, self._stream = self._stream, None
        if stream is not None:
            stream.abort()
        if status == "done":
            path = f"{PREFIX}/jobs/{self._remote}?send_files=true"
            self.http.call("GET", path, None, lambda a: self._fetched(job, a), 300_000)
        elif status == "failed":
            self._fail(job, str(data.get("detail") or self.tr("The job failed on the server.")))
        else:
            self._end(job, self.job_cancelled, job.id)

    def _closed(self, job: Job, number: int, answer: Answer) -> None:
        """The stream ended without the job's last word: the server went (or the line did)."""
        if job is not self._running or self._stream is None or number != self._stream_no:
            return
        self._stream = None
        if answer.status == 404:
            self._send(job)  # a server started again knows nothing of it: sent again
        elif answer.reached and answer.status != 200:
            self._refuse_or_fail(job, answer)
        else:
            self._lose(answer)

    def _fetched(self, job: Job, answer: Answer) -> None:
        if job is not self._running:
            return
        if answer.status != 200:
            if answer.status == 404:
                self._send(job)
            elif answer.reached:
                self._refuse_or_fail(job, answer)
            else:
                self._lose(answer)
            return
        self._in_thread(lambda: save_answer(answer.body, job), lambda saved: self._saved(job, saved))

    def _saved(self, job: Job, saved: Fetched | BaseException) -> None:
        if isinstance(saved, BaseException):
            self._fail(job, saved)
            return
        result = JobResult(job.id, saved.paths, time.monotonic() - self._began, saved.warnings, job.kind)
        self._end(job, self.job_finished, result)

    def _cancel_answered(self, answer: Answer) -> None:
        job = self._running
        if job is not None and not answer.reached:
            self._end(job, self.job_cancelled, job.id)  # gone meanwhile: nothing more will come of it

    # -- how a job ends ---------------------------------------------------------------------------
    def _end(self, job: Job, signal: Any, outcome: object) -> None:
        if job is not self._running:
            return
        if self._stream is not None:
            stream, self._stream = self._stream, None
            stream.abort()
        self._running, self._remote, self._tracker, self.last_progress = None, None, None, None
        self._started.discard(job.id)
        signal.emit(outcome)
        self._next()
        self._say_engine()

    def _fail(self, job: Job, why: str | BaseException) -> None:
        message = str(why)
        details = message
        if isinstance(why, BaseException):
            details = "".join(traceback.format_exception(why))
            if not isinstance(why, WuerstchenError):
                log.error("remote job %d failed", job.id, exc_info=why)
                message = self.tr("Something went wrong with the server's answer: {0}").format(why)
        self._end(job, self.job_failed, JobError(job.id, message, details))

    def _refuse_or_fail(self, job: Job, answer: Answer) -> None:
        detail = detail_of(answer.body) or self.tr("The server answered HTTP {0}.").format(answer.status)
        if answer.status == 401:
            self.refused = refused_token(self.base)
            self._say_failure(self.refused)
            self._fail(job, self.refused)
        elif answer.status == 429:
            self._lose(answer, detail)  # its share of the server's queue is full: asked again later
        else:
            self._fail(job, detail)

    # -- a server that went away ------------------------------------------------------------------
    def _lose(self, answer: Answer, why: str = "") -> None:
        log.warning("the server at %s stopped answering: %s", self.base, answer.error or why)
        self.lost = True
        kept = len(self._pending) + (self._running is not None)
        jobs = self.tr("your {0} waiting jobs are kept and resume").format(kept)
        if kept == 1:
            jobs = self.tr("your waiting job is kept and resumes")
        elif kept == 0:
            jobs = self.tr("new jobs wait and start")
        sentence = self.tr("The server at {0} stopped answering; {1} when it is back.")
        self.engine_status.emit(why or sentence.format(self.base, jobs))
        if self.last_progress is not None:  # no time left is known while the server is away
            self.last_progress = dataclasses.replace(
                self.last_progress, seconds_left=-1.0, queue_seconds_left=-1.0
            )
            self.job_progress.emit(self.last_progress)
        self._retry.start(round(self._retry_s * 1000))
        self._retry_s = min(self._retry_s * 2, RETRY_MOST_S)

    def _ask_again(self) -> None:
        self.http.call("GET", f"{PREFIX}/queue", None, self._back, 10_000)

    def _back(self, answer: Answer) -> None:
        if answer.status != 200:
            if answer.status == 401:  # back with another token: the job it ran is not ours to follow
                self.lost = False
                self.refused = refused_token(self.base)
                self._say_failure(self.refused)
                if self._running is not None:
                    self._fail(self._running, self.refused)
                return
            self._lose(answer)
            return
        self.lost, self._retry_s = False, RETRY_FIRST_S
        self._say_engine()
        job = self._running
        if job is None:
            self._next()
        elif job.cancel.is_set():
            self.cancel_current()
        elif self._remote is None:
            self._send(job)
        else:
            self._follow(job)  # a job it no longer knows is sent again (404)

    def _probed(self, answer: Answer) -> None:
        ok, sentence, short = describe(self.base, answer, bool(self.http.token))
        if ok:
            self._short = short
            self.engine_ready.emit(short, sentence)
            self._say_engine()
        else:
            self.refused = sentence if answer.status == 401 else ""
            self._say_failure(sentence)

    def _say_engine(self) -> None:
        """The engine line, as the local one says it: never "Ready" while a job runs."""
        if self.lost or self.refused:
            return  # the line says why the queue waits
        where = self._short or self.base.split("://", 1)[-1]
        text = self.tr("Working · {0}") if self._running is not None else self.tr("Ready · {0}")
        self.engine_status.emit(text.format(where))

    def _say_failure(self, sentence: str) -> None:
        self.engine_status.emit(sentence)  # the status area's engine line, whoever listens to failures
        self.engine_failed.emit(sentence)

    # -- work off the GUI thread -------------------------------------------------------------------
    def _in_thread(self, work: Callable[[], Any], then: Callable[[Any], None]) -> None:
        if self._closing:
            return

        def run() -> None:
            try:
                made: Any = work()
            except Exception as exc:  # handed back: the job fails with it, the service goes on
                made = exc
            self._from_thread.emit(then, made)  # queued to this object's (the GUI) thread

        self._files.submit(run)

    @Slot(object, object)
    def _deliver(self, then: Callable[[Any], None], made: Any) -> None:
        then(made)


def _preview(job: Job, step: int, total: int, png_base64: str) -> Preview | None:
    """The server's preview of the first image (a PNG) as the window's ``Preview``."""
    import base64
    import io

    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(base64.b64decode(png_base64))) as im:
            rgb = im.convert("RGB")
    except (ValueError, OSError, UnidentifiedImageError):
        log.warning("a live preview from the server could not be read", exc_info=True)
        return None
    seeds = (job.params.seed,) if job.params is not None else (0,)
    return Preview(job.id, step, total, rgb.width, rgb.height, (rgb.tobytes(),), seeds, False)
