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
   copies those cells instead of decoding them again (``prefix.share_prefix``), and so does
   a run whose prompt begins like a prefix cached by an earlier run (``prefix_cache``:
   a sequence that ends leaves its cells there; they give way, least recently used
   first, whenever a live run needs sequence ids or cells);
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
from . import prefix_cache
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
        """Copy a prompt's prefix from a run or the cache (False: every run prefills all)."""
        self.cache = prefix_cache.of(engine) if share_prefixes else None
        """The engine's prefix cache (None: none attached, or sharing is off)."""
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
        self._prompt_cells: dict[int, list[tuple[object, int, int]]] = {}
        """Run id -> its prompt's cells as (owner, first position, end): a shared prefix's
        cells belong to the run that decoded them (for ``kv_cells``)."""
        self._owner: dict[int, int] = {}
        """Run id -> the name of the cells it decodes (``prefix_cache.OWNERS``)."""
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
        run.keep = self._keep if self.cache is not None and resume is None else None
        self.runs[run.run_id] = run
        self.waiting.append(run)
        return run.run_id

    def cancel(self, run_id: int) -> None:
        """Stop one run at its next step: its live sequences end as cancelled (a finished
        run: nothing to do)."""
        run = self.runs.get(run_id)
        if run is not None:
            run.stop.set()

    def kv_cells(self, cached: bool = True) -> int:
        """Cells the active runs and the cached prefixes hold now (what the engine's cache
        holds): cells that several share are counted once. ``cached`` False: the runs' alone."""
        spans: dict[object, list[tuple[int, int]]] = {}
        for run in self.active:
            held = run.prompt_held()
            own = [(o, a, min(b, held)) for o, a, b in self._prompt_cells[run.run_id] if a < held]
            gen = prefix_cache.generated_spans(run.tree, run.n_prompt, self._owner[run.run_id])
            for owner, a, b in own + gen:
                spans.setdefault(owner, []).append((a, b))
        for owner, a, b in (self.cache.spans() if self.cache is not None and cached else ()):
            spans.setdefault(owner, []).append((a, b))
        return sum(union_length(v) for v in spans.values())

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
        self._begin()
        try:
            while self.waiting or self.active:
                yield from self.retire()
                yield from self.admit()
                yield from self.step()
        finally:
            self._end()  # the engine is reusable whatever happened

    def _begin(self) -> None:
        """The engine holds the cached prefixes and nothing else; their ids are not free."""
        held = self.cache.ids() if self.cache is not None else set()
        if held:
            for seq in set(range(self.engine.n_seq_max)) - held:
                self.engine.remove_seq(seq)
        else:
            self.engine.clear()
        self.slots = SlotPool(i for i in range(self.engine.n_seq_max) if i not in held)

    def _end(self) -> None:
        """Runs cut short leave nothing behind (cached prefixes stay: only whole tokens are there)."""
        try:
            for run in list(self.active):
                self._release(run)
        except Exception:  # a closed engine, say: start again from nothing
            if self.cache is not None:
                self.cache.forget()
            self.engine.clear()

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
        del self._prompt_cells[run.run_id], self._owner[run.run_id]
        for slot in ids:
            self.engine.remove_seq(slot)  # a run leaves nothing behind in the cache
            self.slots.give(slot)
        self.cells_free += cells
        self.active.remove(run)
        del self.runs[run.run_id]
        self._fit_cache()  # the run's cells that entries hold are theirs alone now

    # 2. admit -------------------------------------------------------------------------
    def admit(self) -> Iterator[tuple[int, Event]]:
        """Start waiting runs, oldest first, while ids and cells allow."""
        while self.waiting and self._touch(self.waiting[0]) and self._room_for(self.waiting[0]):
            run = self.waiting.popleft()
            n_ids = min(ids_needed(run), len(self.slots))
            cells = min(cells_needed(run), self.cells_free)
            ids = [self.slots.take() for _ in range(n_ids)]
            self._reserved[run.run_id] = (ids, cells)
            self._owner[run.run_id] = owner = next(prefix_cache.OWNERS)
            self._prompt_cells[run.run_id] = [(owner, 0, run.n_prompt)]
            self.cells_free -= cells
            run.slots = SlotPool(ids)
            self.active.append(run)
            self._fit_cache()  # the run's reservation is its own, whatever is cached
            yield from _tagged(run, run.start())

    def _room_for(self, run: RunState) -> bool:
        if not self.active:
            while self.cache is not None and len(self.slots) < ids_needed(run) and self._evict():
                pass
            return True  # alone, a run gets whatever there is
        if self.max_active is not None and len(self.active) >= self.max_active:
            return False
        if self.target_rows is not None and self._live_rows() + first_rows(run) > self.target_rows:
            return False
        if self.cells_free < cells_needed(run):
            return False
        while self.cache is not None and len(self.slots) < ids_needed(run) and self._evict():
            pass  # cached prefixes give their ids to a run
        return len(self.slots) >= ids_needed(run)

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
            if share_prefix(run, self.active, self.engine, self._prompt_cells, self.share_prefixes,
                            self.cache) == "wait":
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
                if self._evict():
                    continue  # a cached prefix gives way: try again
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
            while scores is None and self._evict():  # cached prefixes give way first
                scores, seconds = model_call(self.engine, chunk, copy=False)
            charge(chunk, seconds, scores is not None)
            if scores is None:
                raise ContextError(
                    f"no free KV cells for a {len(tokens)}-token prefill; the context holds {self.engine.n_ctx}"
                )

    # the prefix cache ------------------------------------------------------------------
    def _keep(self, run: RunState, q) -> None:
        """``q`` ends: its cells (prompt + decoded tokens) stay as a cached prefix, under a
        sequence id no run holds, if the context has room for them."""
        if q.finish_reason == "context_full":
            return  # the cells are wanted now
        tokens = run.prompt_ids + q.tokens[: q.decoded]
        if self.cache.holds(tokens):
            return
        if not self.slots and not self._evict():
            return
        seq = self.slots.take()
        self.engine.copy_seq(q.slot, seq, len(tokens))
        gen = prefix_cache.generated_spans(run.tree, run.n_prompt, self._owner[run.run_id], [q])
        for old in self.cache.add(seq, tokens, self._prompt_cells[run.run_id] + gen):
            self._free(old)  # a shorter prefix of the same tokens
        self._fit_cache()

    def _fit_cache(self) -> None:
        """Evict cached prefixes, least recently used first, until the cells they alone hold
        fit their bound and what the live runs may still need (their reservations) is free."""
        if self.cache is None or not self.cache.entries:
            return
        while True:
            used = self.kv_cells()
            runs = self.kv_cells(cached=False)
            owed = sum(max(0, self._reserved[r.run_id][1] - self._held_by(r)) for r in self.active)
            bound = self.cache.max_cells
            if used + owed <= self.engine.n_ctx and (bound is None or used - runs <= bound):
                return
            if not self._evict():
                return  # a run alone past its reservation: the context_full policy decides

    def _touch(self, run: RunState) -> bool:
        """The cached prefix ``run`` would copy counts as used now (evicted last); True."""
        if self.cache is not None and run.resume is None:
            self.cache.lookup(run.prompt_ids, run.n_prompt - 1)
        return True

    def _held_by(self, run: RunState) -> int:
        """Cells ``run`` holds, or will copy from the cache before it prefills."""
        if run.prefix_decided or run.resume is not None:
            return run.kv_cells()
        return max(run.kv_cells(), min(self.cache.tree.longest(run.prompt_ids)[0], run.n_prompt - 1))

    def _evict(self) -> bool:
        """Drop the least recently used cached prefix; False when there is none."""
        seq = self.cache.oldest() if self.cache is not None else None
        if seq is None:
            return False
        self.cache.drop(seq)
        self._free(seq)
        return True

    def _free(self, seq: int) -> None:
        self.engine.remove_seq(seq)
        self.slots.give(seq)


def _tagged(run: RunState, events: Iterator[Event]):
    """A run's events as (run id, event); returns what ``events`` returns."""
    while True:
        try:
            ev = next(events)
        except StopIteration as stop:
            return stop.value
        yield run.run_id, ev
