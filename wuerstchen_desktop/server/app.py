"""The FastAPI application: the A1111 routes over the queue, behind a guard that checks the token and the
body size before any route reads a byte. Errors are one sentence in ``detail``, as the CLI says them."""

from __future__ import annotations

import asyncio
import io
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from wuerstchen_desktop import __version__
from wuerstchen_desktop.core.errors import InvalidParams, QueueFull, WuerstchenError
from wuerstchen_desktop.server import a1111, ours
from wuerstchen_desktop.server.auth import authorized
from wuerstchen_desktop.server.engine import Engine, Outcome
from wuerstchen_desktop.server.jobqueue import JobQueue, progress_of
from wuerstchen_desktop.server.ours import PREFIX

MAX_BODY_BYTES = 1 << 20  # text only: txt2img, generate, compose
# Routes that take files, base64 in JSON (a third larger): two compositions at most 512 KiB each, or a
# picture of at most 16 MiB (see uploads.py for how large they are).
COMPOSITION_BODY_BYTES = 2 << 20
PICTURE_BODY_BYTES = 24 << 20
BODY_LIMITS = {
    f"{PREFIX}/decode": COMPOSITION_BODY_BYTES,
    f"{PREFIX}/blend": COMPOSITION_BODY_BYTES,
    f"{PREFIX}/reproduce": PICTURE_BODY_BYTES,
}


def _answer(status: int, detail: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"detail": detail}, status_code=status, headers=headers)


class Guard:
    """ASGI middleware: a bearer token when one is set, and at most ``limit`` bytes of body (declared or
    sent; ``limits`` raise it for the routes named), both refused before the application sees the request."""

    def __init__(
        self,
        app: ASGIApp,
        token: str | None,
        limit: int = MAX_BODY_BYTES,
        limits: dict[str, int] | None = None,
    ) -> None:
        self.app, self.token, self.limit, self.limits = app, token, limit, limits or {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        if not authorized(headers.get("authorization"), self.token):
            sentence = "This server needs its token: send it as `Authorization: Bearer TOKEN`."
            reply = _answer(401, sentence, {"WWW-Authenticate": "Bearer"})
            await reply(scope, receive, send)
            return
        limit = self.limits.get(scope["path"].rstrip("/"), self.limit)
        declared = headers.get("content-length", "0")
        if not declared.isdigit() or int(declared) > limit:
            await self._too_large(limit, scope, receive, send)
            return
        # Read the whole body here, bounded, whether its length was declared or not (chunked).
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away
            body += message.get("body", b"")
            if len(body) > limit:
                await self._too_large(limit, scope, receive, send)
                return
            if not message.get("more_body", False):
                break
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": bytes(body), "more_body": False}

        await self.app(scope, replay, send)

    async def _too_large(self, limit: int, scope: Scope, receive: Receive, send: Send) -> None:
        sentence = f"The request is larger than the {limit // 1024} KiB this server accepts."
        await _answer(413, sentence)(scope, receive, send)


def _validation_sentence(exc: RequestValidationError) -> str:
    """The first problem pydantic found, as one sentence naming the field."""
    errors = exc.errors()
    if not errors:
        return "The request is not valid."
    first = errors[0]
    where = ".".join(str(p) for p in first.get("loc", ()) if p != "body") or "request"
    return f"The field {where} is not valid: {first.get('msg', 'wrong value')}."


def create_app(engine: Engine, queue: JobQueue, token: str | None) -> FastAPI:
    """The application serving ``engine`` through ``queue``; ``token`` None: no token asked (loopback)."""
    app = FastAPI(title="Würstchen Desktop", version=__version__)
    app.add_middleware(Guard, token=token, limits=BODY_LIMITS)
    app.include_router(ours.router(engine, queue))

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        return _answer(422, _validation_sentence(exc))

    @app.post("/sdapi/v1/txt2img")
    async def txt2img(req: a1111.Txt2ImgRequest, request: Request) -> JSONResponse:
        try:
            runs = a1111.to_params(req)
            client = request.client.host if request.client else "unknown"
            submitted = queue.submit(client, engine.jobs(runs), "txt2img")
        except QueueFull as exc:
            return _answer(429, str(exc))
        except InvalidParams as exc:
            return _answer(422, str(exc))
        try:
            # Shielded: a client that hangs up does not stop its job; the images still reach the folder.
            outcome: Outcome = await asyncio.shield(asyncio.wrap_future(submitted.future))
        except WuerstchenError as exc:
            status = 422 if isinstance(exc, InvalidParams) else 500
            return _answer(status, str(exc))
        records = [s.record for s in outcome.saved]
        images = [a1111.png_base64(s.path.read_bytes()) for s in outcome.saved] if req.send_images else []
        body = {
            "images": images,
            "parameters": req.model_dump(),
            "info": a1111.info_json(req, runs, records),
            "job": submitted.id,  # not A1111's: the id our own routes know this job by
        }
        return JSONResponse(body)

    @app.get("/sdapi/v1/progress")
    async def progress(skip_current_image: bool = False) -> dict[str, Any]:
        state = queue.state()
        done, eta = progress_of(state)
        image = None
        if state.preview is not None and state.job_count and not skip_current_image:
            image = _png(*state.preview)
        return {
            "progress": done,
            "eta_relative": eta,
            "state": state.as_dict(),
            "current_image": image,
            "textinfo": None,
        }

    @app.post("/sdapi/v1/interrupt")
    async def interrupt() -> dict[str, Any]:
        queue.interrupt()
        return {}

    @app.get("/sdapi/v1/sd-models")
    async def sd_models() -> list[dict[str, Any]]:
        return [a1111.sd_model(engine.pipe.prior_source.ref, engine.model_hash)]

    @app.get("/sdapi/v1/options")
    async def options() -> dict[str, Any]:
        model = a1111.sd_model(engine.pipe.prior_source.ref, engine.model_hash)
        return {
            "sd_model_checkpoint": model["title"],
            "sd_checkpoint_hash": engine.model_hash,
            "samples_format": "png",
            "wuerstchen_decoder": engine.pipe.decoder_source.ref,
            "wuerstchen_device": str(engine.pipe.device),  # the window's Settings → Test connection
            "wuerstchen_dtype": str(engine.pipe.dtype).removeprefix("torch."),
        }

    @app.get("/sdapi/v1/scripts")
    async def scripts() -> dict[str, list[str]]:
        return {"txt2img": [], "img2img": []}  # clients ask which extensions exist: none

    return app


def _png(width: int, height: int, rgb: bytes) -> str:
    from PIL import Image

    out = io.BytesIO()
    Image.frombytes("RGB", (width, height), rgb).save(out, "PNG")
    return a1111.png_base64(out.getvalue())


__all__ = ["BODY_LIMITS", "MAX_BODY_BYTES", "Guard", "create_app"]
