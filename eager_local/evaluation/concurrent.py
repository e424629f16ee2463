"""Many prompts of an evaluation decoding together: the runner's work, driven by the scheduler.

The runner's per-prompt work is a generator: it yields a ``Request`` (a prompt to
decode), receives the ``RunResult``, and returns the prompt's record. ``finished``
keeps the scheduler supplied with requests and yields each prompt's record as soon
as its run is done, so records are written (and fsync'd) in the order prompts
finish. With concurrency 1 that is dataset order, one prompt at a time.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Callable, Generator, Iterable, Iterator

from ..decoding.scheduler import for_concurrency
from ..errors import ContextError, PromptError
from ..events import RunFinished
from ..result import RunResult
from ..settings import Settings

QUEUED = 16
"""Runs kept waiting in the scheduler at ``auto``, so it can admit as soon as there is
room (at concurrency N: N; at 1, one, so prompts run and are written in dataset order)."""


@dataclass(frozen=True)
class Request:
    """A prompt the work wants decoded."""

    prompt: str
    settings: Settings
    resume: RunResult | None = None
    """A finished tree to continue (budget reallocation)."""


Work = Callable[[object], Generator[Request, RunResult, object]]
"""An item's work: yields Requests, receives their results, returns the item's record."""


def finished(model, items: Iterable, work: Work, concurrency: int | str,
             cancel: threading.Event) -> Iterator[tuple[object, dict]]:
    """(item, record) for every item, as each finishes; no new prompt starts once ``cancel``
    is set (the runs in flight end as cancelled and their results come back as usual)."""
    scheduler = for_concurrency(model.engine, concurrency)
    queued = QUEUED if concurrency == "auto" else concurrency
    todo = iter(items)
    running: dict[int, tuple[object, Generator]] = {}

    def advance(it, gen, result=None):
        """Send ``result`` to the work; queue its next request, or return its record. A
        request refused (prompt too long, context too small) is thrown into the work,
        which records the item as failed; the evaluation goes on."""
        step = (lambda: next(gen)) if result is None else (lambda: gen.send(result))
        while True:
            try:
                req = step()
            except StopIteration as stop:
                return stop.value
            try:
                rid = model.submit(scheduler, req.prompt, req.settings, cancel=cancel, resume=req.resume)
            except (PromptError, ContextError) as e:
                step = lambda e=e: gen.throw(e)  # noqa: E731
                continue
            running[rid] = (it, gen)
            return None

    def top_up() -> Iterator[tuple[object, dict]]:
        while len(scheduler.waiting) < queued and not cancel.is_set():
            it = next(todo, None)
            if it is None:
                return
            rec = advance(it, work(it))
            if rec is not None:  # the work needed no decoding
                yield it, rec

    yield from top_up()
    for rid, ev in scheduler.events():
        if isinstance(ev, RunFinished):
            it, gen = running.pop(rid)
            rec = advance(it, gen, ev.result)
            if rec is not None:
                yield it, rec
            yield from top_up()
