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
   copies those cells instead of decoding them again (``share_prefix``);
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

import itertools
import threading
import time
import weakref
from collections import deque
from dataclasses import dataclass
from typing import Iterator

import numpy as np

from . import sampling, startup
from .engine.base import Engine, SlotPool
from .errors import ContextError, ModelError, PromptError, SettingsError
from .events import Event
from .result import ModelInfo, RunResult
from .run_state import RunState, Start, check_budget
from .settings import Settings
from .tree import LiveSequence


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


# the one place that calls engine.decode and sampling ---------------------------------
@dataclass(frozen=True)
class Scored:
    """One decoded row, scored: what a run needs to choose the row's next token."""

    entropy: float
    """Top-K entropy (nats) after the run's temperature."""
    top2: tuple[int, int]
    """The two most likely tokens (a fork's parent and child tokens)."""
    candidates: tuple | None
    """Top candidates (token, probability) when the run records them."""
    dist: object
    """The row's distribution (sampling.RowDist)."""
    top_p: float
    """The run's nucleus mass."""

    def draw(self, rng: np.random.Generator) -> int:
        """Sample the token from the nucleus with the run's generator."""
        return sampling.sample_top_p(self.dist, self.top_p, rng)


def _model_call(engine: Engine, rows: list["_Row"], copy: bool) -> tuple[list[Scored] | None, float]:
    """Decode ``rows`` as one batch; score the rows that want logits with their run's
    settings. Returns (scores in row order, seconds); scores are None when no KV cell was free."""
    t0 = time.perf_counter()
    logits = engine.decode([r.slot for r in rows], [r.token for r in rows],
                           [r.pos for r in rows], [r.want for r in rows])
    seconds = time.perf_counter() - t0
    if logits is None:
        return None, seconds
    if copy:
        logits = logits.copy()  # the engine's buffer is overwritten by the next chunk (rows or Candidates)
    scores: list[Scored] = []
    start = 0
    for run, group in itertools.groupby((r for r in rows if r.want), key=lambda r: r.run):
        s, part = run.settings, logits[start : start + len(list(group))]
        start += len(part)
        greedy = s.method == "greedy"  # greedy never samples
        dists = sampling.distributions(
            part, s.temperature if s.temperature > 0 else 1.0, s.top_k_entropy,
            top_p=0.0 if greedy else s.top_p, need=s.record_candidates,
            exact_probs=s.record_candidates > 0,  # only shown candidates need them
        )
        for i, d in enumerate(dists):  # part[i]: a full row or one row of Candidates
            row = part[i]
            cands = sampling.top_candidates(d, s.record_candidates) if s.record_candidates else None
            scores.append(Scored(d.entropy, sampling.top_two(d, row), cands, d, s.top_p))
    return scores, seconds


# ---------------------------------------------------------------------------------------
@dataclass(eq=False)
class _Row:
    """One row of a step's batch: a live sequence's pending token, or a prompt token."""

    run: RunState
    seq: LiveSequence | None
    """None for a prompt token."""
    slot: int
    token: int
    pos: int
    want: bool
    """Logits wanted (every sequence row; a prompt's last token)."""
    scored: Scored | None = None


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
        return total + sum(_union_length(v) for v in spans.values())

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
            n_ids = min(_ids_needed(run), len(self.slots))
            cells = min(_cells_needed(run), self.cells_free)
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
        if self.target_rows is not None and self._live_rows() + _first_rows(run) > self.target_rows:
            return False
        return len(self.slots) >= _ids_needed(run) and self.cells_free >= _cells_needed(run)

    def _live_rows(self) -> int:
        return sum(len(r.tree.live()) if r.seeded else _first_rows(r) for r in self.active)

    # 3-5. one step --------------------------------------------------------------------
    def step(self) -> Iterator[tuple[int, Event]]:
        """One batched decode of every run's rows; each run takes its tokens."""
        startup.check()  # a Ctrl-C that a library swallowed ends the command here
        t0 = time.perf_counter()
        rows = self.batch_rows()
        if not rows:
            return
        counts = [(run, len(group)) for run, group in _by_run(rows)]
        yield from self.decode(rows)
        yield from self.advance(rows)
        _share(counts, time.perf_counter() - t0, "wall_s")

    def batch_rows(self) -> list[_Row]:
        """Every live sequence's pending token, then up to n_batch prompt tokens."""
        rows = [_Row(run, q, *run.row(q), True)
                for run in self.active if run.seeded for q in run.tree.live()]
        room = self.engine.n_batch
        for run in self.active:
            if run.seeded or room <= 0 or self.share_prefix(run) == "wait":
                continue
            a = run.prefilled
            b = min(run.n_prompt, a + room)
            for i in range(a, b):
                last = i == run.n_prompt - 1 and run.resume is None
                rows.append(_Row(run, None, run.prompt_slot, run.prompt_ids[i], i, last))
            room -= b - a
        return rows

    def share_prefix(self, run: RunState) -> str:
        """Before a run prefills: copy the longest prompt prefix (at least MIN_SHARED_PREFIX
        tokens) it shares with a run admitted before it, so it prefills only the rest (in
        a unified cache the copy shares the cells: it costs neither time nor memory).
        "wait" while that run is still prefilling the shared part (one step, usually);
        "copied" or "none" once decided. Its last prompt token a run always decodes itself
        (its logits seed the run)."""
        if run.prefix_decided:
            return "none"
        donor, n = None, 0
        if self.share_prefixes and run.resume is None and run.prefilled == 0:
            for other in self.active:
                if other is run:
                    break  # only runs admitted before: no run waits for a later one
                if other.resume is None:
                    k = _common_prefix(run.prompt_ids, other.prompt_ids, run.n_prompt - 1)
                    if k > n:
                        donor, n = other, k
        if donor is None or n < MIN_SHARED_PREFIX:
            run.prefix_decided = True
            return "none"
        held = donor.prefix_source()
        if held is None or held[1] < n:
            if not donor.seeded:
                return "wait"  # the donor's prefill has not reached the shared part yet
            run.prefix_decided = True
            return "none"  # its sequences have all finished: nothing left to copy
        self.engine.copy_seq(held[0], run.prompt_slot, n)
        run.prefilled = n  # the copied prompt tokens are in the cache: prefill goes on from n
        run.prefix_decided = True
        self._prompt_cells[run.run_id] = [
            (owner, a, min(b, n)) for owner, a, b in self._prompt_cells[donor.run_id] if a < n
        ] + [(run.run_id, n, run.n_prompt)]
        return "copied"

    def decode(self, rows: list[_Row]) -> Iterator[tuple[int, Event]]:
        """Decode ``rows`` in n_batch chunks; a full cache ends sequences (context_full)."""
        nb = self.engine.n_batch
        chunks = [rows[i : i + nb] for i in range(0, len(rows), nb)]
        for chunk in chunks:
            while chunk:
                scores, seconds = _model_call(self.engine, chunk, copy=len(chunks) > 1)
                _charge(chunk, seconds, scores is not None)
                if scores is not None:
                    for row, sc in zip((r for r in chunk if r.want), scores):
                        row.scored = sc
                    break
                victim = _victim(chunk, self._reserved)
                chunk.remove(victim)
                rows.remove(victim)
                yield from _tagged(victim.run, victim.run.finish(victim.seq, "context_full"))

    def advance(self, rows: list[_Row]) -> Iterator[tuple[int, Event]]:
        """Runs take their tokens; StepFinished for each run that decoded; prompts seed."""
        decoded: list[RunState] = []
        for run, group in _by_run(r for r in rows if r.seq is not None):
            run.decoded_rows([r.seq for r in group])
            yield from _tagged(run, run.choose([r.seq for r in group], [r.scored for r in group]))
            decoded.append(run)
        prompts = list(_by_run(r for r in rows if r.seq is None))
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
            chunk = [_Row(run, None, slot, t, start + i + j, False) for j, t in enumerate(tokens[i : i + nb])]
            scores, seconds = _model_call(self.engine, chunk, copy=False)
            _charge(chunk, seconds, scores is not None)
            if scores is None:
                raise ContextError(
                    f"no free KV cells for a {len(tokens)}-token prefill; the context holds {self.engine.n_ctx}"
                )


MIN_SHARED_PREFIX = 16
"""Prompt tokens a run must share with another before it copies them (fewer: not worth it)."""


def _common_prefix(a: list[int], b: list[int], limit: int) -> int:
    """Length of the common prefix of ``a`` and ``b``, at most ``limit``."""
    n = 0
    for x, y in zip(a[:limit], b[:limit]):
        if x != y:
            break
        n += 1
    return n


def _union_length(spans: list[tuple[int, int]]) -> int:
    """Positions covered by the union of half-open ``spans``."""
    total, end = 0, None
    for a, b in sorted(spans):
        if end is None or a > end:
            total, end = total + b - a, b
        elif b > end:
            total, end = total + b - end, b
    return total


def _tagged(run: RunState, events: Iterator[Event]):
    """A run's events as (run id, event); returns what ``events`` returns."""
    while True:
        try:
            ev = next(events)
        except StopIteration as stop:
            return stop.value
        yield run.run_id, ev


def _by_run(rows) -> Iterator[tuple[RunState, list[_Row]]]:
    """Rows grouped by run (a run's rows are adjacent in a batch)."""
    for run, group in itertools.groupby(rows, key=lambda r: r.run):
        yield run, list(group)


def _charge(chunk: list[_Row], seconds: float, ok: bool) -> None:
    """A decode call's time, shared by rows; a run's rows count when decoded."""
    counts = [(run, len(group)) for run, group in _by_run(chunk)]
    _share(counts, seconds, "decode_s")
    if ok:
        for run, n in counts:
            run.decoded += n


def _share(counts: list[tuple[RunState, int]], seconds: float, field: str) -> None:
    """Add ``seconds`` to each run's ``field`` in proportion to its rows."""
    total = sum(n for _, n in counts)
    for run, n in counts:
        setattr(run, field, getattr(run, field) + seconds * n / total)


def _victim(chunk: list[_Row], reserved: dict[int, tuple[list[int], int]]) -> _Row:
    """The row to drop when the cache is full: the youngest sequence of the run that is
    furthest over its KV reservation (a prompt row is never dropped: the prefill fails)."""
    seq_rows = [r for r in chunk if r.seq is not None]
    if not seq_rows:
        run = chunk[0].run
        raise ContextError(
            f"no free KV cells for a {run.n_prompt}-token prefill; the context holds {run.engine.n_ctx}"
        )
    over = {r.run: r.run.kv_cells() - reserved[r.run.run_id][1] for r in seq_rows}
    worst = max(over, key=lambda run: (over[run], run.run_id))
    return max((r for r in seq_rows if r.run is worst), key=lambda r: r.seq.id)


def _first_rows(run: RunState) -> int:
    """Rows a run decodes right after its prompt: M for parallel sampling, else 1."""
    return run.settings.max_seqs if run.settings.method == "parallel" and run.resume is None else 1


def _ids_needed(run: RunState) -> int:
    """Engine sequence ids a run may hold at once (a continued tree adds its prompt's)."""
    s = run.settings
    return (1 if s.method == "greedy" else s.max_seqs) + (1 if run.resume is not None else 0)


def _cells_needed(run: RunState) -> int:
    """KV cells a run may need to finish: the prompt, and T tokens for every sequence."""
    s = run.settings
    return run.n_prompt + s.max_new_tokens * (1 if s.method == "greedy" else s.max_seqs)
