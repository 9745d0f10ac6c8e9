"""The server's own routes under ``/wuerstchen/v1``: what the window does, for a client elsewhere.

Every job goes through the one queue (fair across clients, bounded per client) and the one job runner,
as the window's jobs do: ``generate``, ``compose`` (Stage C only: the composition files, as the window's
contact sheet saves them), ``decode`` and ``blend`` (compositions the client sends back) and
``reproduce``. Each answer names its job; a job is looked at, streamed (server-sent events) and
cancelled by that id, by the client that asked for it only.
"""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, StreamingResponse
from starlette.concurrency import run_in_threadpool

from wuerstchen_desktop.core.errors import (
    ImageReadError,
    InvalidParams,
    NoParametersFound,
    QueueFull,
    WuerstchenError,
)
from wuerstchen_desktop.core.jobs.job import Job, JobKind
from wuerstchen_desktop.core.jobs.runner import check
from wuerstchen_desktop.server import api_models as m
from wuerstchen_desktop.server.a1111 import png_base64
from wuerstchen_desktop.server.engine import NAME_PATTERN, Engine, Outcome
from wuerstchen_desktop.server.jobqueue import JobQueue, progress_of
from wuerstchen_desktop.server.jobqueue import Request as Queued
from wuerstchen_desktop.server.uploads import Uploads

PREFIX = "/wuerstchen/v1"
POLL_S = 0.05  # how often an event stream looks for new steps; they are kept, so none is missed
_REFUSED = (InvalidParams, ImageReadError, NoParametersFound)  # the client's file or values: a 422
_ERRORS: dict[int | str, dict[str, Any]] = {
    s: {"model": m.ErrorAnswer} for s in (401, 404, 413, 422, 429, 500)
}


def client_of(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def error(status: int, detail: str, job: str | None = None) -> JSONResponse:
    return JSONResponse({"detail": detail, **({"job": job} if job else {})}, status_code=status)


def failure(queued: Queued) -> tuple[int, str] | None:
    """The HTTP status and sentence of a request that failed; None when it did not."""
    future = queued.future
    if not future.done() or future.cancelled() or future.exception() is None:
        return None
    exc = future.exception()
    if isinstance(exc, _REFUSED):
        return 422, str(exc)
    if isinstance(exc, WuerstchenError):
        return 500, str(exc)
    return 500, "The job failed on the server; the server's log says why."


def _made(path: Path, record: Any, out_dir: Path, send_files: bool) -> m.MadeFile:
    from wuerstchen_desktop.core.imagefile.parameters_text import format_parameters

    made = m.MadeFile(
        kind="composition" if record.kind == "composition" else "image",
        name=path.relative_to(out_dir).as_posix(),
        seed=record.params.seed,
        parameters=record.params.to_dict(),
        infotext=format_parameters(record),
    )
    if send_files:
        data = path.read_bytes()
        made.file = png_base64(data)
        if record.kind == "composition":
            made.preview = _plain_png(data)
    return made


def _plain_png(data: bytes) -> str:
    """The picture of a composition file without its metadata: what a contact sheet tile shows."""
    from PIL import Image

    out = io.BytesIO()
    with Image.open(io.BytesIO(data)) as im:
        im.convert("RGB").save(out, "PNG")
    return png_base64(out.getvalue())


def answer(queue: JobQueue, queued: Queued, out_dir: Path, send_files: bool) -> m.JobAnswer:
    """What is known of ``queued`` now; its files (read from disk) once it has ended."""
    ans = m.JobAnswer(job=queued.id, kind=queued.kind, status=queued.status)  # type: ignore[arg-type]
    if queued.status == "waiting":
        ans.position = queue.place(queued)
    elif queued.status == "running":
        ans.progress, ans.eta = progress_of(queue.state())
    future = queued.future
    if future.done() and not future.cancelled():
        failed = failure(queued)
        if failed is not None:
            ans.detail = failed[1]
        else:
            outcome: Outcome = future.result()
            kept = [s for s in outcome.saved if s.path.is_file()]  # unless someone removed it since
            ans.files = [_made(s.path, s.record, out_dir, send_files) for s in kept]
            ans.warnings = list(outcome.warnings)
            ans.progress = 1.0 if queued.status == "done" else ans.progress
    return ans


def _event(name: str, data: dict[str, Any]) -> str:
    return f"event: {name}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


def _step(queued: Queued, event: dict[str, Any], previews: bool) -> dict[str, Any]:
    out = {k: v for k, v in event.items() if k != "preview"}
    if previews and event.get("preview") is not None:
        from PIL import Image

        width, height, rgb = event["preview"]
        buf = io.BytesIO()
        Image.frombytes("RGB", (width, height), rgb).save(buf, "PNG")
        out["preview"] = png_base64(buf.getvalue())
    return m.StepEvent(job=queued.id, **out).model_dump()


def router(engine: Engine, queue: JobQueue) -> APIRouter:
    """The routes, serving ``engine`` through ``queue``."""
    api = APIRouter(prefix=PREFIX, tags=["wuerstchen"], responses=_ERRORS)
    out_dir = engine.out_dir

    def job(params: Any, kind: JobKind, **extra: Any) -> Job:
        return Job(params, out_dir, "png", NAME_PATTERN, kind=kind, **extra)

    def checked(build: Callable[[Uploads], list[Job]], uploads: Uploads) -> list[Job]:
        jobs = build(uploads)
        for each in jobs:
            check(each)  # what the runner checks before any model work: refused now, not queued
        return jobs

    async def submit(
        request: Request, kind: str, options: m.JobOptions, build: Callable[[Uploads], list[Job]]
    ) -> JSONResponse:
        """Read what the client sent (off the event loop), check it as the runner will, queue it, and
        answer at once or once it has ended."""
        uploads = Uploads()
        try:
            jobs = await run_in_threadpool(checked, build, uploads)
            queued = queue.submit(client_of(request), jobs, kind)
        except QueueFull as exc:
            uploads.remove()
            return error(429, str(exc))
        except WuerstchenError as exc:
            uploads.remove()
            return error(422 if isinstance(exc, _REFUSED) else 500, str(exc))
        except BaseException:
            uploads.remove()
            raise
        queued.future.add_done_callback(uploads.remove)
        if not options.wait:
            ans = answer(queue, queued, out_dir, False)
            return JSONResponse(ans.model_dump(), status_code=202)
        try:
            # Shielded: a client that hangs up does not stop its job; the files still reach the folder.
            await asyncio.shield(asyncio.wrap_future(queued.future))
        except asyncio.CancelledError:
            if not queued.future.cancelled():
                raise  # this handler itself is being cancelled
        except Exception:
            pass  # the answer says why
        ans = await run_in_threadpool(answer, queue, queued, out_dir, options.send_files)
        failed = failure(queued)
        if failed is not None:
            return error(failed[0], failed[1], queued.id)
        return JSONResponse(ans.model_dump())

    ok = {"model": m.JobAnswer, "description": "The job (202: queued, when `wait` is false)."}

    @api.post("/generate", response_model=m.JobAnswer, responses={202: ok})
    async def generate(req: m.TextJob, request: Request) -> JSONResponse:
        """Images from text, as the window's Generate: the files carry their parameters."""
        return await submit(request, "generate", req, lambda _: [job(req.params(), JobKind.GENERATE)])

    @api.post("/compose", response_model=m.JobAnswer, responses={202: ok})
    async def compose(req: m.TextJob, request: Request) -> JSONResponse:
        """Stage C only: one composition file per seed (a contact sheet), to decode or blend later."""
        return await submit(request, "compose", req, lambda _: [job(req.params(), JobKind.COMPOSE)])

    @api.post("/decode", response_model=m.JobAnswer, responses={202: ok})
    async def decode(req: m.DecodeRequest, request: Request) -> JSONResponse:
        """A composition sent back, decoded into an image (with a new decoder seed: vary detail)."""

        def build(uploads: Uploads) -> list[Job]:
            path, _ = uploads.composition(engine.pipe, "composition.png", req.composition)
            return [job(None, JobKind.DECODE, sources=(path,), changes=req.changes())]

        return await submit(request, "decode", req, build)

    @api.post("/blend", response_model=m.JobAnswer, responses={202: ok})
    async def blend(req: m.BlendRequest, request: Request) -> JSONResponse:
        """Two compositions mixed by ``weight`` and decoded, as the window's blend."""

        def build(uploads: Uploads) -> list[Job]:
            paths = tuple(
                uploads.composition(engine.pipe, f"composition-{n}.png", text)[0]
                for n, text in enumerate(req.compositions, 1)
            )
            return [job(None, JobKind.BLEND, sources=paths, changes=req.changes(), weight=req.weight)]

        return await submit(request, "blend", req, build)

    @api.post("/reproduce", response_model=m.JobAnswer, responses={202: ok})
    async def reproduce(req: m.ReproduceRequest, request: Request) -> JSONResponse:
        """A file made here (or its record) made again from its parameters alone."""
        if (req.image is None) == (req.parameters is None):
            return error(422, "Send either the image or its parameters, one of the two.")

        def build(uploads: Uploads) -> list[Job]:
            if req.image is not None:
                path, _ = uploads.picture(req.image)
            else:
                path, _ = uploads.record(req.parameters or {})
            return [job(None, JobKind.REPRODUCE, sources=(path,))]

        return await submit(request, "reproduce", req, build)

    def mine(job_id: str, request: Request) -> Queued | None:
        return queue.find(job_id, client_of(request))

    missing = "There is no job {0} of yours on this server; it may have ended long ago."

    @api.get("/jobs/{job_id}", response_model=m.JobAnswer)
    async def look(job_id: str, request: Request, send_files: bool = False) -> JSONResponse:
        """Where a job is; its files once it has ended."""
        queued = mine(job_id, request)
        if queued is None:
            return error(404, missing.format(job_id[:40]))
        ans = await run_in_threadpool(answer, queue, queued, out_dir, send_files)
        return JSONResponse(ans.model_dump())

    @api.delete("/jobs/{job_id}", response_model=m.JobAnswer)
    async def cancel(job_id: str, request: Request) -> JSONResponse:
        """Cancel a job: a waiting one leaves the queue, a running one stops after its current step."""
        queued = mine(job_id, request)
        if queued is None:
            return error(404, missing.format(job_id[:40]))
        queue.cancel(queued)
        return JSONResponse(answer(queue, queued, out_dir, False).model_dump())

    @api.get("/queue", response_model=m.QueueAnswer)
    async def my_queue(request: Request) -> m.QueueAnswer:
        """The caller's own jobs, oldest first."""
        own = queue.of_client(client_of(request))
        jobs = [answer(queue, r, out_dir, False) for r in own]
        return m.QueueAnswer(jobs=jobs, waiting=queue.state().waiting, limit=queue.per_client)

    stream_doc: dict[int | str, dict[str, Any]] = {
        200: {
            "content": {"text/event-stream": {"schema": m.StepEvent.model_json_schema()}},
            "description": "`status` events (data: a JobAnswer without files) when the job starts or "
            "ends, a `step` event (data: a StepEvent) after each step, in order; the stream ends with "
            "the job's last `status`.",
        }
    }

    async def stream(queued: Queued, request: Request, previews: bool) -> AsyncIterator[str]:
        start, said = 0, ""
        while True:
            events, finished = queue.events(queued, start)
            if queued.status != said and not finished:
                said = queued.status
                yield _event("status", answer(queue, queued, out_dir, False).model_dump())
            for event in events:
                yield _event("step", _step(queued, event, previews))
            start += len(events)
            if finished:
                with_result = asyncio.wrap_future(queued.future) if not queued.future.cancelled() else None
                if with_result is not None:
                    await asyncio.wait([with_result])  # the status is set just before the result
                yield _event("status", answer(queue, queued, out_dir, False).model_dump())
                return
            if await request.is_disconnected():
                return
            await asyncio.sleep(POLL_S)

    @api.get("/jobs/{job_id}/events", response_class=StreamingResponse, responses=stream_doc)
    async def job_events(job_id: str, request: Request, previews: bool = False) -> Any:
        """A job's progress as server-sent events, with Stage C's live previews when ``previews``."""
        queued = mine(job_id, request)
        if queued is None:
            return error(404, missing.format(job_id[:40]))
        headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}  # nginx: do not hold them back
        body = stream(queued, request, previews)
        return StreamingResponse(body, media_type="text/event-stream", headers=headers)

    @api.get("/events", response_class=StreamingResponse, responses=stream_doc)
    async def events(job: str, request: Request, previews: bool = False) -> Any:
        """The same stream as ``/jobs/{job}/events``."""
        return await job_events(job, request, previews)

    return api
