"""EAGer-init, full parallel sampling and greedy decoding, as generators of events.

``generate`` runs one prompt and yields ``events``; every face (CLI, TUI,
evaluation) iterates it. All live sequences advance together: one batched
decode per step, logits only for the rows that are sampled. A fork is a
sequence-id copy in the engine, so a child never recomputes its parent's
tokens. README.md's "How EAGER is done here" states the rules; continuing a
finished tree lives in ``continuation``.

The decode loop, step by step (``_Run.events``):

1. ``start``: RunStarted and the budget warnings;
2. ``prefill_prompt``: the prompt into one engine sequence, logits of its last token;
3. ``seed``: the first sequences take their first token (or a finished tree is continued);
4. ``decode_live``: one batched decode of every live sequence's pending token, ending the
   youngest sequence while the context is full;
5. ``advance``: each sequence takes its next token (fork, sample or argmax), then StepFinished;
6. ``result``: RunFinished with the tree and its statistics.
"""

from __future__ import annotations

import threading
import time
from typing import Iterable, Iterator

from . import branch_region, continuation, sampling
from .engine.base import Engine, SlotPool
from .errors import ContextError, PromptError, SettingsError
from .events import (
    Event,
    Forked,
    Notice,
    RunFinished,
    RunStarted,
    SequenceFinished,
    StepFinished,
    TokenSampled,
)
from .result import Fork, ModelInfo, RunResult, RunStats
from .settings import Settings
from .tree import LiveSequence, SequenceTree


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
    settings.validate()
    if not isinstance(prompt, str) or not prompt.strip():
        raise PromptError("the prompt is empty: give some text for the model to continue")
    ids = engine.prompt_tokens(prompt)
    warnings = check_budget(engine, len(ids), settings)
    run = _Run(engine, prompt, ids, settings, model, cancel, resume, warnings)
    try:
        yield from run.events()
    finally:
        engine.clear()  # the engine is reusable whatever happened


def collect(events: Iterable[Event]) -> RunResult:
    """Drain an event stream and return its result."""
    result = None
    for ev in events:
        if isinstance(ev, RunFinished):
            result = ev.result
    if result is None:
        raise RuntimeError("event stream ended without RunFinished")
    return result


def fork_by_hand(engine: Engine, result: RunResult, seq: int, pos: int, token: int, *,
                 model: ModelInfo | None = None, cancel: threading.Event | None = None) -> Iterator[Event]:
    """Continue a finished run with one new sequence, forked by hand (marked ``manual``) at
    token ``pos`` of ``seq`` where it takes ``token``; the others stay as they are. The
    engine-facing steps are manual_fork.start_manual, hooked in as the run's ``start_from``."""
    from .manual_fork import start_manual

    settings = result.settings.with_(max_seqs=len(result.sequences) + 1)
    ids = list(result.prompt_token_ids) or engine.prompt_tokens(result.prompt)
    run = _Run(engine, result.prompt, ids, settings, model, cancel, result, check_budget(engine, len(ids), settings))
    run.start_from = lambda r, slot: start_manual(r, slot, seq, pos, token)
    try:
        yield from run.events()
    finally:
        engine.clear()


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


class _Run:
    """The state of one prompt's decoding: its tree, its sampling and its costs."""

    def __init__(self, engine, prompt, ids, settings, model, cancel, resume, warnings=()):
        self.engine: Engine = engine
        self.prompt: str = prompt
        self.prompt_ids: list[int] = list(ids)
        self.n_prompt: int = len(ids)
        """Prompt tokens: the KV position of generated token i is n_prompt + i."""
        self.settings: Settings = settings
        self.model, self.cancel, self.resume = model, cancel, resume
        self.warnings = list(warnings)
        self.tree = SequenceTree(self.n_prompt)
        self.slots = SlotPool(engine.n_seq_max)
        self.rng = sampling.make_rng(settings.seed)
        self.longest_stop = max((len(x) for x in settings.stop), default=0)
        self.pending: dict[int, int] = {}
        """Sequence id -> the token it decodes next step."""
        self.decoded = 0
        """Rows sent through the engine (prompt included)."""
        self.decode_s = 0.0
        self.peak_kv = 0
        self.steps = 0
        self.t0 = time.perf_counter()
        self.start_from = None
        """How a resumed run starts (None: continuation.start_resumed); see fork_by_hand."""

    # the loop ---------------------------------------------------------------
    def events(self) -> Iterator[Event]:
        """The whole run: prefill, seed, decode steps until no sequence is live, result."""
        yield from self.start()
        logits = self.prefill_prompt()
        yield from self.seed(logits)
        while True:
            live = yield from self.live_or_cancelled()
            if not live:
                break
            live, logits = yield from self.decode_live(live)
            if not live:
                break
            yield from self.advance(live, logits)
        yield RunFinished(self.result())

    def start(self) -> Iterator[Event]:
        """Announce the run and what the budget check warned about."""
        self.t0 = time.perf_counter()
        yield RunStarted(self.prompt, self.n_prompt, self.settings, self.model, self.engine.n_ctx)
        for w in self.warnings:
            yield Notice(w)

    def prefill_prompt(self):
        """Decode the prompt into a fresh engine sequence; logits of its last token (or None)."""
        self.engine.clear()
        self.prompt_slot = self.slots.take()
        return self.prefill(self.prompt_slot, self.prompt_ids, 0, last_logits=self.resume is None)

    def seed(self, logits) -> Iterator[Event]:
        """The first sequences take their first token from the prompt's last logits."""
        s = self.settings
        if self.resume is not None:
            start = self.start_from or continuation.start_resumed  # a manual fork brings its own
            yield from start(self, self.prompt_slot)
        elif s.method == "parallel":
            row = logits[-1]
            (d,) = self.distributions(row[None, :])
            for i in range(s.max_seqs):
                q = self.tree.add(LiveSequence(id=i, parent=None, fork_pos=0, candidates=self.new_candidates()))
                q.slot = self.prompt_slot if i == 0 else self.slots.take()
                if i:
                    self.engine.copy_seq(self.prompt_slot, q.slot, self.n_prompt)
            # every sample draws its first token from the prompt's one distribution
            yield from self.choose(self.tree.sequences, [row] * s.max_seqs, [d] * s.max_seqs)
        else:
            q = self.tree.add(LiveSequence(id=0, parent=None, fork_pos=0, candidates=self.new_candidates()))
            q.slot = self.prompt_slot
            yield from self.choose([q], [logits[-1]])
        self.track_kv()

    def live_or_cancelled(self) -> Iterator[Event]:
        """The live sequences; none once cancelled (each live one ends as cancelled)."""
        live = self.tree.live()
        if live and self.cancel is not None and self.cancel.is_set():
            for q in live:
                yield from self.finish(q, "cancelled")
            return []
        return live

    def decode_live(self, live: list[LiveSequence]) -> Iterator[Event]:
        """Decode every live sequence's pending token; while no KV cell is free, end the
        youngest live sequence (context_full) and try again. Returns (decoded, logits)."""
        live = list(live)
        while live:
            logits = self.decode(
                [q.slot for q in live],
                [self.pending[q.id] for q in live],
                [self.n_prompt + q.decoded for q in live],
                [True] * len(live),
            )
            if logits is not None:
                return live, logits
            yield from self.finish(live.pop(), "context_full")
        return [], None

    def advance(self, live: list[LiveSequence], logits) -> Iterator[Event]:
        """The decoded sequences take their next token; then the step's counters."""
        for q in live:
            q.decoded += 1
            del self.pending[q.id]
        self.steps += 1
        self.track_kv()
        yield from self.choose(live, logits)
        yield self.step_finished()

    def step_finished(self) -> StepFinished:
        seqs = self.tree.sequences
        live = sum(1 for q in seqs if q.finish_reason is None)
        return StepFinished(
            step=self.steps, live=live, finished=len(seqs) - live, created=len(seqs),
            kv_cells=self.tree.kv_cells(), generated_tokens=self.tree.generated_tokens(),
            decoded_tokens=self.decoded, elapsed_s=time.perf_counter() - self.t0,
            decode_s=self.decode_s,
        )

    # engine calls -----------------------------------------------------------
    def decode(self, slots, tokens, positions, want):
        """One engine decode, timed and counted; None when no KV cell was free."""
        t0 = time.perf_counter()
        logits = self.engine.decode(slots, tokens, positions, want)
        self.decode_s += time.perf_counter() - t0
        if logits is not None:
            self.decoded += len(tokens)
        return logits

    def prefill(self, slot: int, tokens: list[int], start: int, last_logits: bool):
        """Decode ``tokens`` into ``slot`` from position ``start`` in n_batch chunks."""
        n, nb, logits = len(tokens), self.engine.n_batch, None
        for i in range(0, n, nb):
            chunk = tokens[i : i + nb]
            want = [False] * len(chunk)
            if last_logits and i + nb >= n:
                want[-1] = True
            logits = self.decode(
                [slot] * len(chunk), chunk, list(range(start + i, start + i + len(chunk))), want
            )
            if logits is None:
                raise ContextError(
                    f"no free KV cells for a {n}-token prefill; the context holds {self.engine.n_ctx}"
                )
        return logits

    def track_kv(self) -> None:
        self.peak_kv = max(self.peak_kv, self.tree.kv_cells())

    # choosing tokens --------------------------------------------------------
    def new_candidates(self):
        return [] if self.settings.record_candidates > 0 else None

    def distributions(self, logits, greedy: bool = False):
        s = self.settings
        tau = s.temperature if s.temperature > 0 else 1.0
        return sampling.distributions(
            logits, tau, s.top_k_entropy, top_p=0.0 if greedy else s.top_p,
            need=s.record_candidates,
            exact_probs=s.record_candidates > 0,  # only shown candidates need them
        )

    def choose(self, rows: list[LiveSequence], logits, dists=None) -> Iterator[Event]:
        """Pick each row's next token: fork, sample or argmax (rows in creation order)."""
        s = self.settings
        if dists is None:
            dists = self.distributions(logits, greedy=s.method == "greedy")  # greedy never samples
        for q, d, row in zip(rows, dists, logits):
            h = d.entropy
            top2 = sampling.top_two(d, row)
            cands = sampling.top_candidates(d, s.record_candidates) if s.record_candidates else None
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
                tok = sampling.sample_top_p(d, s.top_p, self.rng)
                yield from self.take(q, tok, h, top2, cands)

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
            self.engine.remove_seq(q.slot)
            self.slots.give(q.slot)
            q.slot = -1
        tail = q.decoder.decode(b"", final=True)
        if tail and reason != "stop":
            q.text += tail
        yield SequenceFinished(q.id, reason, len(q.tokens), q.text)

    # the result -------------------------------------------------------------
    def result(self) -> RunResult:
        stats = RunStats(
            prompt_tokens=self.n_prompt,
            generated_tokens=self.tree.generated_tokens(),
            decoded_tokens=self.decoded,
            n_sequences=len(self.tree.sequences),
            peak_kv_cells=self.peak_kv,
            wall_s=time.perf_counter() - self.t0,
            decode_s=self.decode_s,
            steps=self.steps,
        )
        if self.resume is not None:
            stats = stats.add_costs(self.resume.stats)
        return RunResult(
            prompt=self.prompt,
            settings=self.settings,
            sequences=tuple(q.record() for q in self.tree.sequences),
            forks=tuple(self.tree.forks),
            stats=stats,
            model=self.model,
            prompt_token_ids=tuple(self.prompt_ids),
        )


def _show(piece: bytes) -> str:
    return piece.decode("utf-8", errors="replace")
