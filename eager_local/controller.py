"""EAGer-init, full parallel sampling and greedy decoding of one prompt, as a generator of events.

``generate`` runs one prompt and yields its events; every face (CLI, TUI,
evaluation) iterates it. It is the scheduler with one run: all live sequences
advance together, one batched decode per step, logits only for the rows that
are sampled. A fork is a sequence-id copy in the engine, so a child never
recomputes its parent's tokens. README.md's "How EAGER is done here" states the
rules; the steps are in ``scheduler``, one run's choices in ``run_state``,
continuing a finished tree in ``continuation``.
"""

from __future__ import annotations

import threading
from typing import Iterable, Iterator

from .engine.base import Engine
from .errors import ContextError, PromptError, SettingsError
from .events import Event, RunFinished
from .result import ModelInfo, RunResult
from .settings import Settings


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
    from .scheduler import Scheduler

    scheduler = Scheduler(engine)
    scheduler.add(prompt, settings, model=model, cancel=cancel, resume=resume)
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


def check_budget(engine: Engine, prompt_tokens: int, s: Settings) -> list[str]:
    """Refuse runs that cannot fit; return warnings for runs that may not."""
    n_ctx = engine.n_ctx
    if s.max_seqs > engine.n_seq_max:
        raise SettingsError(
            f"⟨max_seqs⟩ {s.max_seqs} exceeds the engine's {engine.n_seq_max} sequences"
        )
    if prompt_tokens >= n_ctx:
        raise PromptError(
            f"the prompt is {prompt_tokens} tokens but the context holds {n_ctx}: "
            "shorten it or raise n_ctx"
        )
    if prompt_tokens + s.max_seqs > n_ctx:
        raise ContextError(
            f"{s.max_seqs} sequences after a {prompt_tokens}-token prompt need at least "
            f"{prompt_tokens + s.max_seqs} KV cells; the context holds {n_ctx}: lower ⟨max_seqs⟩"
        )
    warnings = []
    worst = prompt_tokens + s.max_seqs * s.max_new_tokens
    if s.method != "greedy" and worst > n_ctx:
        warnings.append(
            f"without shared prefixes {s.max_seqs} × {s.max_new_tokens} tokens need {worst} KV "
            f"cells and the context holds {n_ctx}; sequences that run out end as context_full"
        )
    return warnings
