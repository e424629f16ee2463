"""One prompt's decoding inside the scheduler: its tree, its random generator, its events.

A ``RunState`` never calls ``engine.decode`` or the sampling functions itself: the
scheduler decodes the rows of every run in one batch and hands each run its
rows' scores (``Scored``: entropy, top two, candidates, and a ``draw(rng)``).
The run then decides, row by row (``choose``): fork, sample or argmax. It does
call the engine's cache bookkeeping (``copy_seq`` for a fork, ``remove_seq`` when
a sequence ends) on the engine sequence ids the scheduler reserved for it.
"""

from __future__ import annotations

import threading
import time
from typing import Callable, Iterator

from ..engine.base import Engine, SlotPool
from ..errors import ContextError, PromptError, SettingsError
from ..method import branch_region
from . import continuation, sampling, warmup
from .pruner import Pruner
from ..events import (
    Event,
    Forked,
    Notice,
    RunFinished,
    RunStarted,
    SequenceFinished,
    StepFinished,
    TokenSampled,
)
from ..result import Fork, ModelInfo, RunResult, RunStats
from ..settings import Settings
from ..tree import LiveSequence, SequenceTree

Prefill = Callable[["RunState", int, list, int], None]
"""Decode tokens into an engine sequence at once (the scheduler's; used by continuation)."""
Start = Callable[["RunState", int], Iterator[Event]]
"""How a resumed run starts, given the run and its prompt's engine sequence."""


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


class RunState:
    """The state of one prompt's decoding: its tree, its sampling and its costs."""

    def __init__(
        self,
        engine: Engine,
        prompt: str,
        ids: list[int],
        settings: Settings,
        *,
        slots: SlotPool,
        model: ModelInfo | None = None,
        cancel: threading.Event | None = None,
        resume: RunResult | None = None,
        warnings=(),
        prefill_now: Prefill | None = None,
        start_from: Start | None = None,
    ) -> None:
        self.engine = engine
        self.prompt = prompt
        self.prompt_ids: list[int] = list(ids)
        self.n_prompt: int = len(ids)
        """Prompt tokens: the KV position of generated token i is n_prompt + i."""
        self.settings = settings
        self.model, self.cancel, self.resume = model, cancel, resume
        self.run_id = 0
        """The scheduler's id of this run."""
        self.stop = threading.Event()
        """Set to cancel this run alone (``cancel`` may be shared with other runs)."""
        self.warnings = list(warnings)
        self.slots = slots
        """The engine sequence ids reserved for this run."""
        self.prefill_now = prefill_now
        self.start_from = start_from
        """How a resumed run starts (None: continuation.start_resumed; a fork by hand brings its own)."""
        self.tree = SequenceTree(self.n_prompt)
        self.rng = sampling.make_rng(settings.seed)
        self.longest_stop = max((len(x) for x in settings.stop), default=0)
        self.pending: dict[int, int] = {}
        """Sequence id -> the token it decodes next step."""
        self.prompt_slot = -1
        self.prefilled = 0
        """Prompt tokens in the cache so far (the prompt is prefilled in chunks)."""
        self.prefix_decided = False
        """True once the scheduler has decided whether this run copies a prefix."""
        self.cached_prompt = 0
        """Prompt tokens copied from the cache or another run instead of decoded."""
        self.keep: Callable[["RunState", LiveSequence], None] | None = None
        """Called with a sequence that ends, before its cells go (the scheduler's prefix cache)."""
        self.seeded = False
        """True once the first sequences exist (after the prompt's last chunk)."""
        self._zero_costs()
        self.pruner = Pruner(settings, model and model.think) if settings.prune == "confidence" else None
        """Online confidence pruning (None: off)."""
        self.first_scored = None
        """Parallel with pruning: the prompt's scored row while the warm-up decodes."""
        self.t0 = time.perf_counter()

    def _zero_costs(self) -> None:
        self.decoded = 0
        """Rows sent through the engine for this run (prompt included)."""
        self.decode_s = 0.0
        """This run's share of the time in decode calls."""
        self.wall_s = 0.0
        """This run's share of the steps' time."""
        self.peak_kv = 0
        self.steps = 0

    # the run's life ---------------------------------------------------------
    def start(self) -> Iterator[Event]:
        """Announce the run and what the budget check warned about; take the prompt's slot."""
        self.t0 = time.perf_counter()
        self.prompt_slot = self.slots.take()
        yield RunStarted(self.prompt, self.n_prompt, self.settings, self.model, self.engine.n_ctx)
        for w in self.warnings:
            yield Notice(w)

    def seed(self, scored) -> Iterator[Event]:
        """The first sequences take their first token from the prompt's last row (``scored``),
        or the finished tree of ``resume`` is continued."""
        s = self.settings
        self.seeded = True
        if self.resume is not None:
            yield from (self.start_from or continuation.start_resumed)(self, self.prompt_slot)
        elif s.method == "parallel" and self.pruner is not None:
            yield from warmup.start(self, scored)  # DeepConf-online: the warm-up first
        elif s.method == "parallel":
            # every sample draws its first token from the prompt's one distribution
            yield from warmup.seed_samples(self, range(s.max_seqs), self.prompt_slot, scored)
        else:
            q = self.tree.add(LiveSequence(id=0, parent=None, fork_pos=0, candidates=self.new_candidates()))
            q.slot = self.prompt_slot
            yield from self.choose([q], [scored])
        self.track_kv()

    def live_or_cancelled(self) -> Iterator[Event]:
        """The live sequences; none once cancelled (each live one ends as cancelled)."""
        live = self.tree.live()
        if live and (self.stop.is_set() or (self.cancel is not None and self.cancel.is_set())):
            for q in live:
                yield from self.finish(q, "cancelled")
            return []
        return live

    def row(self, q: LiveSequence) -> tuple[int, int, int]:
        """(engine sequence, token, position) of ``q``'s next decode row."""
        return q.slot, self.pending[q.id], self.n_prompt + q.decoded

    def decoded_rows(self, live: list[LiveSequence]) -> None:
        """The pending tokens of ``live`` are in the cache now."""
        for q in live:
            q.decoded += 1
            del self.pending[q.id]
        self.steps += 1
        self.track_kv()

    def step_finished(self) -> StepFinished:
        seqs = self.tree.sequences
        live = sum(1 for q in seqs if q.finish_reason is None)
        return StepFinished(
            step=self.steps, live=live, finished=len(seqs) - live, created=len(seqs),
            kv_cells=self.tree.kv_cells(), generated_tokens=self.tree.generated_tokens(),
            decoded_tokens=self.decoded, elapsed_s=time.perf_counter() - self.t0,
            decode_s=self.decode_s,
        )

    def kv_cells(self) -> int:
        """Cells this run holds in the cache now."""
        return self.tree.kv_cells() if self.seeded else self.prefilled

    def prompt_held(self) -> int:
        """Prompt positions this run holds in the cache now (all of them while any of its
        sequences is there)."""
        if not self.seeded:
            return self.prefilled
        return self.n_prompt if any(q.slot >= 0 for q in self.tree.sequences + self.tree.scaffolds) else 0

    def prefix_source(self) -> tuple[int, int] | None:
        """(engine sequence, prompt positions it holds) to copy a prompt prefix from."""
        if not self.seeded:
            return (self.prompt_slot, self.prefilled) if self.prefilled else None
        q = next((q for q in self.tree.live() if q.slot >= 0), None)
        return (q.slot, self.n_prompt) if q is not None else None

    def prefill(self, slot: int, tokens: list[int], start: int, last_logits: bool = False) -> None:
        """Decode ``tokens`` into ``slot`` at once (continuation's scaffolds)."""
        self.prefill_now(self, slot, tokens, start)

    def track_kv(self) -> None:
        self.peak_kv = max(self.peak_kv, self.tree.kv_cells())

    # choosing tokens --------------------------------------------------------
    def new_candidates(self):
        return [] if self.settings.record_candidates > 0 else None

    def choose(self, rows: list[LiveSequence], scores) -> Iterator[Event]:
        """Pick each row's next token: fork, sample or argmax (rows in creation order)."""
        s = self.settings
        for q, sc in zip(rows, scores):
            h, top2, cands = sc.entropy, sc.top2, sc.candidates
            if s.method == "greedy":
                yield from self.take(q, top2[0], h, top2, cands)
            elif (
                s.method == "eager"
                and h >= s.theta
                and len(self.tree.sequences) < s.max_seqs
                and q.since_fork < s.monitor_window
                and branch_region.may_fork(s.branch_region, q.text, self.model and self.model.think)
            ):
                a, c = top2
                child = yield from self.fork(q, len(q.tokens), h, a, c, kv_source=q)
                yield from self.take(q, a, h, top2, cands, forked=True)
                yield from self.take(child, c, h, top2, cands)
            else:
                yield from self.take(q, sc.draw(self.rng), h, top2, cands)
        if self.pruner is None:
            return
        if self.pruner.agreed(self.tree.sequences):
            # the finished sequences already agree: the rest would not change the vote
            for q in self.tree.live():
                yield from self.finish(q, "consensus")
        if warmup.due(self):
            yield from warmup.rest(self)

    def fork(self, parent: LiveSequence, pos: int, entropy: float, parent_token: int,
             child_token: int, kv_source: LiveSequence, manual: bool = False) -> Iterator[Event]:
        """Split a child off ``parent`` at ``pos``: in the tree, in the result and in the KV
        cache (the child shares ``kv_source``'s cells below ``pos``). Returns the child,
        which has not taken its token yet."""
        child = self.tree.add(parent.fork(len(self.tree.sequences), pos))
        child.kv_parent = kv_source
        fork = Fork(parent.id, child.id, pos, entropy, parent_token, child_token, manual)
        parent.forked_at.add(pos)
        self.tree.forks.append(fork)
        yield Forked(fork, _show(self.engine.piece(parent_token)), _show(self.engine.piece(child_token)))
        # the child shares the source's cells before either takes its token
        child.slot = self.slots.take()
        self.engine.copy_seq(kv_source.slot, child.slot, self.n_prompt + pos)
        child.decoded = pos
        child.since_fork = parent.since_fork = 0
        return child

    def take(self, q: LiveSequence, tok: int, h: float, top2, cands, forked: bool = False) -> Iterator[Event]:
        """``q`` takes ``tok``; it finishes on EOG, a stop string or the length cap."""
        before = len(q.text)
        added = q.add_token(tok, self.engine.piece(tok), h, top2, cands)
        yield TokenSampled(q.id, len(q.tokens) - 1, tok, added, h, forked, cands)
        if self.engine.is_eog(tok):
            yield from self.finish(q, "eog")
        elif self.longest_stop and self.hit_stop(q, before):
            yield from self.finish(q, "stop")
        elif len(q.tokens) >= self.settings.max_new_tokens:
            yield from self.finish(q, "length")
        elif self.pruner is not None and self.pruner.prunes(q):
            yield from self.finish(q, "pruned")  # its last W tokens fell below s
        else:
            self.pending[q.id] = tok

    def hit_stop(self, q: LiveSequence, before: int) -> bool:
        """True (and the text cut) when a stop string ends in the text added after ``before``."""
        start = max(0, before - self.longest_stop + 1)
        cut = min((i for i in (q.text.find(x, start) for x in self.settings.stop) if i >= 0), default=-1)
        if cut < 0:
            return False
        q.text = q.text[:cut]
        return True

    def finish(self, q: LiveSequence, reason: str) -> Iterator[Event]:
        """End ``q``: free its engine sequence, flush its text, announce it."""
        q.finish_reason = reason
        self.pending.pop(q.id, None)
        if q.slot >= 0:
            if self.keep is not None:
                self.keep(self, q)
            self.engine.remove_seq(q.slot)
            self.slots.give(q.slot)
            q.slot = -1
        tail = q.decoder.decode(b"", final=True)
        if tail and reason != "stop":
            q.text += tail
        if self.pruner is not None:
            self.pruner.finished(q)
        yield SequenceFinished(q.id, reason, len(q.tokens), q.text)

    # the result -------------------------------------------------------------
    def finished(self) -> RunFinished:
        stats = RunStats(
            prompt_tokens=self.n_prompt,
            generated_tokens=self.tree.generated_tokens(),
            decoded_tokens=self.decoded,
            n_sequences=len(self.tree.sequences),
            peak_kv_cells=self.peak_kv,
            wall_s=self.wall_s,
            decode_s=self.decode_s,
            steps=self.steps,
            cached_prompt_tokens=self.cached_prompt,
            prune_threshold=self.pruner.threshold if self.pruner is not None else None,
        )
        if self.resume is not None:
            stats = stats.add_costs(self.resume.stats)
        return RunFinished(RunResult(
            prompt=self.prompt,
            settings=self.settings,
            sequences=tuple(q.record() for q in self.tree.sequences),
            forks=tuple(self.tree.forks),
            stats=stats,
            model=self.model,
            prompt_token_ids=tuple(self.prompt_ids),
        ))


def _show(piece: bytes) -> str:
    return piece.decode("utf-8", errors="replace")
