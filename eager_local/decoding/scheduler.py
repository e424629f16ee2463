"""Many runs, one engine: every live sequence of every run advances in one batched decode per step.

A *run* is one prompt with its own ``Settings``, its own seeded random generator and
its own sequence tree (``RunState``). ``Scheduler.add`` queues a run; ``events()``
yields ``(run_id, event)`` pairs until every run has finished: each run's stream is
exactly what ``controller.generate`` yields for that prompt alone (``RunStarted`` …
``RunFinished``); the run id is the one ``add`` returned. No I/O here.

One step (``events``):

1. ``retire``: cancelled runs end their live sequences; runs with nothing live finish
   (``RunFinished``) and give back their sequence ids and KV cells;
2. ``admit``: waiting runs start, oldest first, while sequence ids and KV cells allow.
   Each run reserves what it needs to finish (prompt + M × T cells, M sequence ids), so
   one run never pushes another's sequences out of the cache; a run that cannot fit
   even alone runs alone, and the ``context_full`` policy applies within it. A run whose
   prompt begins like one already in the cache (an evaluation's few-shot exemplars)
   copies those cells instead of decoding them again (``prefix.share_prefix``);
3. ``batch_rows``: one row per live sequence of every run, then at most ``n_batch``
   prompt tokens of the runs still prefilling (a prompt is prefilled in chunks between
   decode steps, so live runs wait for one chunk at most);
4. ``decode``: the rows in ``n_batch`` chunks, one engine decode each; when no KV cell is
   free, the youngest sequence of the run most over its reservation ends (context_full);
5. ``advance``: each run takes its next tokens (fork, sample or argmax), then every run
   that decoded reports ``StepFinished``; a prompt whose last chunk is in seeds its
   first sequences.

The caveat: llama.cpp's kernels give slightly different logits for different batch
shapes, so a run's tokens can differ from the same run decoded alone (see
docs/reliability.md); everything else about a run is independent of its batch mates.
"""

from __future__ import annotations

import threading
import time
import weakref
from collections import deque
from typing import Iterator

from .. import startup
from ..engine.base import Engine, SlotPool
from ..errors import ContextError, ModelError, PromptError, SettingsError
from ..events import Event
from ..result import ModelInfo, RunResult
from ..settings import Settings
from .admission import cells_needed, choose_victim, first_rows, ids_needed
from .batch import Row, by_run, charge, model_call, share
from .prefix import share_prefix, union_length
from .run_state import RunState, Start, check_budget


AUTO_ROWS = 32
"""Rows the ``auto`` concurrency keeps live: a 32-row step costs far less than 32 one-row steps."""


def for_concurrency(engine: Engine, concurrency: int | str = "auto") -> "Scheduler":
    """A scheduler running at most ``concurrency`` runs at once (an integer ≥ 1), or with
    ``auto``: admitting runs while fewer than AUTO_ROWS rows are live, as far as sequence
    ids and KV cells allow."""
    if concurrency == "auto":
        return Scheduler(engine, target_rows=AUTO_ROWS)
    if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
        raise SettingsError(f"⟨concurrency⟩ must be auto or an integer ≥ 1 (got {concurrency!r})")
    return Scheduler(engine, max_active=concurrency)


class Scheduler:
    """Runs many prompts on one engine; see the module docstring for one step."""

    def __init__(self, engine: Engine, *, max_active: int | None = None,
                 target_rows: int | None = None, share_prefixes: bool = True) -> None:
        self.engine = engine
        self.share_prefixes = share_prefixes
        """Copy a prompt's prefix from a run that holds it (False: every run prefills all)."""
        self.max_active = max_active
        """Most runs decoding at once (None: as many as fit)."""
        self.target_rows = target_rows
        """Admit a run only while fewer rows than this are live (None: no such limit)."""
        self.slots = SlotPool(range(engine.n_seq_max))
        self.cells_free = engine.n_ctx
        """KV cells not reserved by an active run."""
        self.waiting: deque[RunState] = deque()
        self.active: list[RunState] = []
        self.runs: dict[int, RunState] = {}
        """Runs not finished yet, by id (a finished run is dropped: its result went out)."""
        self._next_id = 0
        self._reserved: dict[int, tuple[list[int], int]] = {}  # run id -> (sequence ids, cells)
        self._prompt_cells: dict[int, list[tuple[int, int, int]]] = {}
        """Run id -> its prompt's cells as (owner run id, first position, end): a shared
        prefix's cells belong to the run that decoded them (for ``kv_cells``)."""
        self._streams: weakref.WeakSet = weakref.WeakSet()  # events() generators handed out
        self.closed = False
        """True after ``close()``."""

    # faces ------------------------------------------------------------------------------
    def add(self, prompt: str, settings: Settings, *, model: ModelInfo | None = None,
            cancel: threading.Event | None = None, resume: RunResult | None = None,
            start_from: Start | None = None) -> int:
        """Queue a run; return its id. Bad settings and prompts that cannot fit are refused here.
        ``start_from``: how a continuation of ``resume`` starts (RunState.start_from)."""
        settings.validate()
        if not isinstance(prompt, str) or not prompt.strip():
            raise PromptError("the prompt is empty: give some text for the model to continue")
        ids = self.engine.prompt_tokens(prompt)
        warnings = check_budget(self.engine, len(ids), settings)
        run = RunState(self.engine, prompt, ids, settings, slots=SlotPool(()), model=model,
                       cancel=cancel, resume=resume, warnings=warnings, prefill_now=self._prefill_now,
                       start_from=start_from)
        run.run_id, self._next_id = self._next_id, self._next_id + 1
        self.runs[run.run_id] = run
        self.waiting.append(run)
        return run.run_id

    def cancel(self, run_id: int) -> None:
        """Stop one run at its next step: its live sequences end as cancelled (a finished
        run: nothing to do)."""
        run = self.runs.get(run_id)
        if run is not None:
            run.stop.set()

    def kv_cells(self) -> int:
        """Cells the active runs hold now (what the engine's cache holds): a prompt prefix
        that several runs share is counted once."""
        total, spans = 0, {}
        for run in self.active:
            held = run.prompt_held()
            total += run.kv_cells() - held
            for owner, a, b in self._prompt_cells[run.run_id]:
                if a < held:
                    spans.setdefault(owner, []).append((a, min(b, held)))
        return total + sum(union_length(v) for v in spans.values())

    def events(self) -> Iterator[tuple[int, Event]]:
        """Run everything queued (and whatever is added meanwhile) to the end."""
        if self.closed:
            raise ModelError("this scheduler was closed (with its model): make a new one")
        events = self._events()
        self._streams.add(events)
        return events

    def close(self) -> None:
        """Finish every ``events()`` stream still suspended (the engine's memory is cleared);
        the scheduler refuses to run after it. A ValueError: a stream is being iterated now."""
        for events in list(self._streams):
            events.close()
        self.closed = True

    def _events(self) -> Iterator[tuple[int, Event]]:
        self.engine.clear()
        try:
            while self.waiting or self.active:
                yield from self.retire()
                yield from self.admit()
                yield from self.step()
        finally:
            self.engine.clear()  # the engine is reusable whatever happened

    # 1. retire ------------------------------------------------------------------------
    def retire(self) -> Iterator[tuple[int, Event]]:
        """End cancelled runs' sequences; finish the runs with nothing live."""
        for run in list(self.active):
            if not run.seeded:
                continue
            live = yield from _tagged(run, run.live_or_cancelled())
            if not live:
                yield run.run_id, run.finished()
                self._release(run)

    def _release(self, run: RunState) -> None:
        ids, cells = self._reserved.pop(run.run_id)
        del self._prompt_cells[run.run_id]
        for slot in ids:
            self.engine.remove_seq(slot)  # a run leaves nothing behind in the cache
            self.slots.give(slot)
        self.cells_free += cells
        self.active.remove(run)
        del self.runs[run.run_id]

    # 2. admit -------------------------------------------------------------------------
    def admit(self) -> Iterator[tuple[int, Event]]:
        """Start waiting runs, oldest first, while ids and cells allow."""
        while self.waiting and self._room_for(self.waiting[0]):
            run = self.waiting.popleft()
            n_ids = min(ids_needed(run), len(self.slots))
            cells = min(cells_needed(run), self.cells_free)
            ids = [self.slots.take() for _ in range(n_ids)]
            self._reserved[run.run_id] = (ids, cells)
            self._prompt_cells[run.run_id] = [(run.run_id, 0, run.n_prompt)]
            self.cells_free -= cells
            run.slots = SlotPool(ids)
            self.active.append(run)
            yield from _tagged(run, run.start())

    def _room_for(self, run: RunState) -> bool:
        if not self.active:
            return True  # alone, a run gets whatever there is
        if self.max_active is not None and len(self.active) >= self.max_active:
            return False
        if self.target_rows is not None and self._live_rows() + first_rows(run) > self.target_rows:
            return False
        return len(self.slots) >= ids_needed(run) and self.cells_free >= cells_needed(run)

    def _live_rows(self) -> int:
        return sum(len(r.tree.live()) if r.seeded else first_rows(r) for r in self.active)

    # 3-5. one step --------------------------------------------------------------------
    def step(self) -> Iterator[tuple[int, Event]]:
        """One batched decode of every run's rows; each run takes its tokens."""
        startup.check()  # a Ctrl-C that a library swallowed ends the command here
        t0 = time.perf_counter()
        rows = self.batch_rows()
        if not rows:
            return
        counts = [(run, len(group)) for run, group in by_run(rows)]
        yield from self.decode(rows)
        yield from self.advance(rows)
        share(counts, time.perf_counter() - t0, "wall_s")

    def batch_rows(self) -> list[Row]:
        """Every live sequence's pending token, then up to n_batch prompt tokens."""
        rows = [Row(run, q, *run.row(q), True)
                for run in self.active if run.seeded for q in run.tree.live()]
        room = self.engine.n_batch
        for run in self.active:
            if run.seeded or room <= 0:
                continue
            if share_prefix(run, self.active, self.engine, self._prompt_cells, self.share_prefixes) == "wait":
                continue
            a = run.prefilled
            b = min(run.n_prompt, a + room)
            for i in range(a, b):
                last = i == run.n_prompt - 1 and run.resume is None
                rows.append(Row(run, None, run.prompt_slot, run.prompt_ids[i], i, last))
            room -= b - a
        return rows

    def decode(self, rows: list[Row]) -> Iterator[tuple[int, Event]]:
        """Decode ``rows`` in n_batch chunks; a full cache ends sequences (context_full)."""
        nb = self.engine.n_batch
        chunks = [rows[i : i + nb] for i in range(0, len(rows), nb)]
        for chunk in chunks:
            while chunk:
                scores, seconds = model_call(self.engine, chunk, copy=len(chunks) > 1)
                charge(chunk, seconds, scores is not None)
                if scores is not None:
                    for row, sc in zip((r for r in chunk if r.want), scores):
                        row.scored = sc
                    break
                victim = choose_victim(chunk, self._reserved)
                chunk.remove(victim)
                rows.remove(victim)
                yield from _tagged(victim.run, victim.run.finish(victim.seq, "context_full"))

    def advance(self, rows: list[Row]) -> Iterator[tuple[int, Event]]:
        """Runs take their tokens; StepFinished for each run that decoded; prompts seed."""
        decoded: list[RunState] = []
        for run, group in by_run(r for r in rows if r.seq is not None):
            run.decoded_rows([r.seq for r in group])
            yield from _tagged(run, run.choose([r.seq for r in group], [r.scored for r in group]))
            decoded.append(run)
        prompts = list(by_run(r for r in rows if r.seq is None))
        for run, group in prompts:
            run.prefilled += len(group)
        for run in decoded:  # the cache and every run's count of it agree here
            yield run.run_id, run.step_finished()
        for run, group in prompts:
            if run.prefilled == run.n_prompt:
                yield from _tagged(run, run.seed(group[-1].scored))

    def _prefill_now(self, run: RunState, slot: int, tokens: list[int], start: int) -> None:
        """Decode ``tokens`` into ``slot`` at once, in n_batch chunks (continuation's scaffolds)."""
        nb = self.engine.n_batch
        for i in range(0, len(tokens), nb):
            chunk = [Row(run, None, slot, t, start + i + j, False) for j, t in enumerate(tokens[i : i + nb])]
            scores, seconds = model_call(self.engine, chunk, copy=False)
            charge(chunk, seconds, scores is not None)
            if scores is None:
                raise ContextError(
                    f"no free KV cells for a {len(tokens)}-token prefill; the context holds {self.engine.n_ctx}"
                )


def _tagged(run: RunState, events: Iterator[Event]):
    """A run's events as (run id, event); returns what ``events`` returns."""
    while True:
        try:
            ev = next(events)
        except StopIteration as stop:
            return stop.value
        yield run.run_id, ev
