"""EAGer-init, full parallel sampling and greedy decoding of one prompt, as a generator of events.

``generate`` runs one prompt and yields its events; every face (CLI, TUI,
evaluation) iterates it. It is the scheduler with one run: all live sequences
advance together, one batched decode per step, logits only for the rows that
are sampled. A fork is a sequence-id copy in the engine, so a child never
recomputes its parent's tokens. README.md's "How EAGER is done here" states the
rules; the steps are in ``scheduler``, one run's choices in ``run_state``,
continuing a finished tree in ``continuation``, a fork by hand in ``manual_fork``.
"""

from __future__ import annotations

import threading
from typing import Iterable, Iterator

from ..engine.base import Engine
from ..events import Event, RunFinished
from .manual_fork import manual_settings, manual_start
from ..result import ModelInfo, RunResult
from .scheduler import Scheduler
from ..settings import Settings


def generate(
    engine: Engine,
    prompt: str,
    settings: Settings,
    *,
    model: ModelInfo | None = None,
    cancel: threading.Event | None = None,
    resume: RunResult | None = None,
) -> Iterator[Event]:
    """Decode ``prompt`` with ``settings.method``; yield events, ending with RunFinished.

    ``resume``: a finished EAGER run of the same prompt to continue up to the new
    cap ``settings.max_seqs`` (budget reallocation): its missed forks (H ≥ θ where
    the cap stopped a fork), earliest first, become new children; their prefixes
    are re-prefilled once per parent.
    """
    scheduler = Scheduler(engine)
    scheduler.add(prompt, settings, model=model, cancel=cancel, resume=resume)
    for _, ev in scheduler.events():
        yield ev


def fork_by_hand(engine: Engine, result: RunResult, seq: int, pos: int, token: int, *,
                 model: ModelInfo | None = None, cancel: threading.Event | None = None) -> Iterator[Event]:
    """Continue a finished run with one new sequence, forked by hand (marked ``manual``) at
    token ``pos`` of ``seq`` where it takes ``token``; the others stay as they are. It is a
    run like any other in the scheduler: a continuation of ``result`` whose start is
    manual_fork.start_manual (``add(..., start_from=...)``)."""
    scheduler = Scheduler(engine)
    scheduler.add(result.prompt, manual_settings(result), model=model, cancel=cancel, resume=result,
                  start_from=manual_start(seq, pos, token))
    for _, ev in scheduler.events():
        yield ev


def collect(events: Iterable[Event]) -> RunResult:
    """Drain an event stream and return its result."""
    result = None
    for ev in events:
        if isinstance(ev, RunFinished):
            result = ev.result
    if result is None:
        raise RuntimeError("event stream ended without RunFinished")
    return result
