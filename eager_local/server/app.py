"""The Starlette application: routes, API key, body limit, and errors in OpenAI's shape.

Handlers read and check the request, hand a ``Job`` to the ``Worker`` and turn
its events into a JSON body or a stream of server-sent events. Every refusal
is an ``ApiError``; every other exception is logged and answered with a 500
that holds no traceback.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
import os
import secrets
import time
from dataclasses import replace

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from ..errors import EagerError
from .access import AccessGuard
from . import chat as chat_module
from .choices import DeltaStream
from .errors import ApiError, from_eager, internal_error
from .limits import ServerConfig
from .requests import CompletionRequest, parse_chat, parse_completion
from .responses import Reply, models_list
from .streaming import sse_response, wait_disconnect
from .worker import END, Busy, Job, ShuttingDown, Worker, chat_format

log = logging.getLogger("eager_local.server")


def create_app(model, cfg: ServerConfig, worker: Worker | None = None) -> Starlette:
    """The ASGI app serving ``model``; the worker thread runs for the app's lifespan."""
    worker = worker or Worker(model, cfg.max_queue, cfg.concurrency)
    chat = replace(chat_format(model), source=os.path.basename(str(model.info.path)))
    piece = model.engine.piece
    started = int(time.time())

    @contextlib.asynccontextmanager
    async def lifespan(app):
        worker.start()
        try:
            yield
        finally:
            await asyncio.to_thread(worker.stop)
            await asyncio.to_thread(chat_module.close)

    async def health(request: Request):
        return JSONResponse({"status": "ok", "model": cfg.model_id, **worker.health()})

    async def models(request: Request):
        _check_key(request, cfg)
        return JSONResponse(models_list(cfg.model_id, started))

    async def one_model(request: Request):
        _check_key(request, cfg)
        name = request.path_params["name"]
        if name != cfg.model_id:
            raise _unknown_model(name, cfg)
        return JSONResponse(models_list(cfg.model_id, started)["data"][0])

    async def completions(request: Request):
        _check_key(request, cfg)
        req = parse_completion(await read_json(request, cfg), cfg)
        _check_model(req, cfg)
        return await _answer(request, req, req.prompt, worker, cfg, piece)

    async def chat_completions(request: Request):
        _check_key(request, cfg)
        req = parse_chat(await read_json(request, cfg), cfg)
        _check_model(req, cfg)
        if chat.stops:
            req = replace(req, stop=tuple(dict.fromkeys(req.stop + chat.stops)))
        prompt = await asyncio.to_thread(chat.render, req.messages)  # bounded: template_process.py
        return await _answer(request, req, prompt, worker, cfg, piece)

    routes = [
        Route("/health", health, methods=["GET"]),
        Route("/v1/models", models, methods=["GET"]),
        Route("/v1/models/{name:path}", one_model, methods=["GET"]),
        Route("/v1/completions", completions, methods=["POST"]),
        Route("/v1/chat/completions", chat_completions, methods=["POST"]),
    ]
    handlers = {ApiError: _api_error, HTTPException: _http_error, Exception: _bug}
    middleware = [Middleware(AccessGuard, cfg=cfg)]  # foreign Host or Origin: 403 before any work
    if cfg.allow_origins:  # browser apps (mikupad, …) on other origins
        middleware.append(Middleware(CORSMiddleware, allow_origins=list(cfg.allow_origins),
                                     allow_methods=["GET", "POST"], allow_headers=["*"]))
    app = Starlette(routes=routes, exception_handlers=handlers, lifespan=lifespan, middleware=middleware)
    app.state.worker = worker
    return app


async def _answer(request, req: CompletionRequest, prompt: str, worker, cfg, piece):
    """Run ``prompt`` for ``req``: a JSON body, or an event stream once the run has started."""
    settings = req.settings(seed=secrets.randbits(31))
    job = Job(prompt, settings, stream=req.stream, loop=asyncio.get_running_loop())
    try:
        worker.submit(job)
    except Busy:
        raise ApiError(429, f"the server is busy: {cfg.max_queue} requests are already waiting; "
                       "retry shortly", type="rate_limit_error", code="queue_full") from None
    except ShuttingDown:
        raise _shutting_down() from None
    reply = Reply(req, cfg.model_id, piece)
    gone = asyncio.ensure_future(wait_disconnect(request))
    try:
        while True:
            item = await _next(job, gone)
            if item is None:
                return JSONResponse({}, status_code=499)  # nobody is listening any more
            _raise_failure(item, req)
            if req.stream:  # the run has started: open the event stream
                stream = DeltaStream(item.settings.stop, piece, req.logprobs,
                                     bool(req.eager and req.eager.entropies))
                gone.cancel()
                return sse_response(job, stream, reply, req.include_usage, first=item)
            if hasattr(item, "result"):
                return JSONResponse(reply.body(item.result, job.notices))
    finally:
        gone.cancel()


async def _next(job: Job, gone: asyncio.Future):
    """The job's next item, or None (and the run cancelled) if the client went away."""
    get = asyncio.ensure_future(job.items.get())
    await asyncio.wait({get, gone}, return_when=asyncio.FIRST_COMPLETED)
    if get.done():
        return get.result()
    get.cancel()
    job.cancel.set()
    return None


def _raise_failure(item, req: CompletionRequest) -> None:
    """Turn an error item (or a run that ended without a result) into an ApiError."""
    if isinstance(item, EagerError):
        raise from_eager(item, "messages" if req.chat else "prompt",
                         "eager.max_seqs" if req.eager else "n")
    if isinstance(item, ShuttingDown) or item is END:
        raise _shutting_down()
    if isinstance(item, Exception):
        raise internal_error()


def _shutting_down() -> ApiError:
    return ApiError(503, "the server is shutting down; retry against a running server",
                    type="server_error", code="shutting_down")


async def read_json(request: Request, cfg: ServerConfig):
    """The body as JSON, refusing more than ``cfg.max_body`` bytes before reading them."""
    too_big = ApiError(413, f"body: larger than the server's limit of {cfg.max_body} bytes; "
                       "send a shorter prompt (or start the server with a larger --max-body)",
                       param="body", code="body_too_large")
    length = request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > cfg.max_body:
        raise too_big
    data = bytearray()
    async for chunk in request.stream():
        data += chunk
        if len(data) > cfg.max_body:
            raise too_big
    if not data:
        raise ApiError(400, "body: empty; send a JSON object", param="body", code="invalid_json")
    try:
        return json.loads(bytes(data))
    except UnicodeDecodeError:
        raise ApiError(400, "body: not UTF-8 text; send a JSON object", param="body",
                       code="invalid_json") from None
    except json.JSONDecodeError as e:
        raise ApiError(400, f"body: not valid JSON ({e.msg} at line {e.lineno} column {e.colno})",
                       param="body", code="invalid_json") from None
    except RecursionError:
        raise ApiError(400, "body: JSON nested too deeply; send a flat JSON object", param="body",
                       code="invalid_json") from None
    except ValueError:  # an integer of more than 4300 digits
        raise ApiError(400, "body: a number with more than 4300 digits; send ordinary numbers",
                       param="body", code="invalid_json") from None


def _check_key(request: Request, cfg: ServerConfig) -> None:
    if cfg.api_key is None:
        return
    given = request.headers.get("authorization", "")
    scheme, _, token = given.partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode(), cfg.api_key.encode()):
        raise ApiError(401, "wrong or missing API key: send the server's --api-key as "
                       "'Authorization: Bearer KEY'", code="invalid_api_key")


def _check_model(req: CompletionRequest, cfg: ServerConfig) -> None:
    if req.model is not None and req.model != cfg.model_id:
        raise _unknown_model(req.model, cfg)


def _unknown_model(name: str, cfg: ServerConfig) -> ApiError:
    return ApiError(404, f"model: {name!r} is not served here; this server runs "
                    f"{cfg.model_id!r} (GET /v1/models)", param="model", code="model_not_found")


async def _api_error(request: Request, exc: ApiError):
    return JSONResponse(exc.body(), status_code=exc.status)


async def _http_error(request: Request, exc: HTTPException):
    if exc.status_code == 404:
        msg = f"no such endpoint: {request.url.path} (the server has /v1/models, /v1/completions, /v1/chat/completions, /health)"
    elif exc.status_code == 405:
        msg = f"{request.method} is not allowed on {request.url.path}"
    else:
        msg = str(exc.detail)
    err = ApiError(exc.status_code, msg, code="not_found" if exc.status_code == 404 else None)
    return JSONResponse(err.body(), status_code=exc.status_code, headers=exc.headers)


async def _bug(request: Request, exc: Exception):
    log.error("request %s %s failed", request.method, request.url.path, exc_info=exc)
    err = internal_error()
    return JSONResponse(err.body(), status_code=err.status)
