"""Server-sent events: one ``data:`` line per chunk, ``data: [DONE]`` at the end.

The stream is opened once the run has started (so a prompt that does not fit
is still a plain 400). If the client goes away, Starlette cancels the stream
and the ``finally`` below cancels the run at its next decode step.
"""

from __future__ import annotations

import asyncio
import json

from starlette.requests import Request
from starlette.responses import StreamingResponse

from ..errors import EagerError
from ..events import Notice
from .choices import DeltaStream
from .errors import from_eager, internal_error
from .responses import Reply
from .worker import END, Job


def sse_response(job: Job, stream: DeltaStream, reply: Reply, include_usage: bool,
                 first=None) -> StreamingResponse:
    """The run's chunks as ``text/event-stream`` (``first``: an event already taken)."""
    headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    if first is not None:
        stream.feed(first)
    return StreamingResponse(_events(job, stream, reply, include_usage),
                             media_type="text/event-stream", headers=headers)


async def _events(job: Job, stream: DeltaStream, reply: Reply, include_usage: bool):
    try:
        done = False
        while not done:
            # everything the worker has queued goes out in one write; sleep(0) then lets
            # the event loop see a connection the client has closed
            items = [await job.items.get()]
            while not job.items.empty():
                items.append(job.items.get_nowait())
            lines, done = _lines(items, stream, reply)
            if lines:
                yield "".join(lines)
            await asyncio.sleep(0)
        if include_usage and stream.result is not None:
            yield _line(reply.last_chunk(stream.result))
        yield "data: [DONE]\n\n"
    finally:
        job.cancel.set()  # a client that went away stops its run (no-op after the end)


def _lines(items: list, stream: DeltaStream, reply: Reply) -> tuple[list[str], bool]:
    """The SSE lines of some queued items, and whether the run's END was among them."""
    lines = []
    for item in items:
        if item is END:
            return lines, True
        if isinstance(item, Exception):
            # the run failed after the stream opened: say so in OpenAI's error shape
            err = from_eager(item) if isinstance(item, EagerError) else internal_error()
            lines.append(_line(err.body()))
            continue
        if isinstance(item, Notice):
            lines.append(_line(reply.notice_chunk(item.message)))
            continue
        for delta in stream.feed(item):
            chunk = reply.chunk(delta)
            if chunk is not None:
                lines.append(_line(chunk))
    return lines, False


def _line(doc: dict) -> str:
    return "data: " + json.dumps(doc, ensure_ascii=False, separators=(",", ":")) + "\n\n"


async def wait_disconnect(request: Request) -> None:
    """Return when the client closes the connection (the body has been read already)."""
    while True:
        message = await request.receive()
        if message["type"] == "http.disconnect":
            return
