"""EAGer-init, full parallel sampling and greedy decoding, as generators of events.

``generate`` runs one prompt and yields ``events``; every face (CLI, TUI,
evaluation) iterates it. All live sequences advance together: one batched
decode per step, logits only for the rows that are sampled. A branch is a
sequence-id copy in the engine, so a child never recomputes its parent's
tokens. See docs/method.md (and ../shared/docs/eager-method.md) for the rules.
"""

from __future__ import annotations

import threading
import time
from typing import Iterable, Iterator

from . import branch_region, sampling
from .engine.base import Engine, SlotPool
from .errors import ContextError, PromptError, SettingsError
from .events import (
    Branched,
    Event,
    Notice,
    RunFinished,
    RunStarted,
    SequenceFinished,
    StepFinished,
    TokenSampled,
)
from .result import BranchRecord, ModelInfo, RunResult, RunStats
from .settings import Settings
from .tree import Branch, BranchTree


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
    cap ``settings.max_seqs`` (budget reallocation): its missed branch points
    (H ≥ θ where the cap stopped a branch), earliest first, become new children;
    their prefixes are re-prefilled once per parent.
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


def check_budget(engine: Engine, prompt_tokens: int, s: Settings) -> list[str]:
    """Refuse runs that cannot fit; return warnings for runs that may not."""
    n_ctx = engine.n_ctx
    if s.max_seqs > engine.n_seq_max:
        raise SettingsError(
            f"max-seqs {s.max_seqs} exceeds the engine's {engine.n_seq_max} sequences"
        )
    if prompt_tokens >= n_ctx:
        raise PromptError(
            f"the prompt is {prompt_tokens} tokens but the context holds {n_ctx}: "
            "shorten it or raise n_ctx"
        )
    if prompt_tokens + s.max_seqs > n_ctx:
        raise ContextError(
            f"{s.max_seqs} sequences after a {prompt_tokens}-token prompt need at least "
            f"{prompt_tokens + s.max_seqs} KV cells; the context holds {n_ctx}: lower --max-seqs"
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
    """The state of one prompt's decoding."""

    def __init__(self, engine, prompt, ids, settings, model, cancel, resume, warnings=()):
        self.e = engine
        self.warnings = list(warnings)
        self.prompt, self.ids, self.s = prompt, list(ids), settings
        self.model, self.cancel, self.resume = model, cancel, resume
        self.P = len(ids)
        self.tree = BranchTree(self.P)
        self.slots = SlotPool(engine.n_seq_max)
        self.rng = sampling.make_rng(settings.seed)
        self.maxstop = max((len(x) for x in settings.stop), default=0)
        self.decoded = 0
        self.decode_s = 0.0
        self.peak = 0
        self.steps = 0
        self.pending: dict[int, int] = {}  # branch id -> token to decode next step
        self.out: list[Event] = []

    # engine calls -----------------------------------------------------------
    def _decode(self, seqs, toks, poss, want):
        t0 = time.perf_counter()
        logits = self.e.decode(seqs, toks, poss, want)
        self.decode_s += time.perf_counter() - t0
        if logits is not None:
            self.decoded += len(toks)
        return logits

    def _prefill(self, slot: int, tokens: list[int], start: int, last_logits: bool):
        """Decode ``tokens`` into ``slot`` from position ``start`` in n_batch chunks."""
        n, nb, logits = len(tokens), self.e.n_batch, None
        for i in range(0, n, nb):
            chunk = tokens[i : i + nb]
            want = [False] * len(chunk)
            if last_logits and i + nb >= n:
                want[-1] = True
            logits = self._decode(
                [slot] * len(chunk), chunk, list(range(start + i, start + i + len(chunk))), want
            )
            if logits is None:
                raise ContextError(
                    f"no free KV cells for a {n}-token prefill; the context holds {self.e.n_ctx}"
                )
        return logits

    def _track(self):
        self.peak = max(self.peak, self.tree.kv_cells())

    # the run ----------------------------------------------------------------
    def events(self) -> Iterator[Event]:
        t0 = time.perf_counter()
        s = self.s
        yield RunStarted(self.prompt, self.P, s, self.model, self.e.n_ctx)
        for w in self.warnings:
            yield Notice(w)
        self.e.clear()
        prompt_slot = self.slots.take()
        logits = self._prefill(prompt_slot, self.ids, 0, last_logits=self.resume is None)
        if self.resume is not None:
            yield from self._start_resumed(prompt_slot)
        elif s.method == "parallel":
            row = logits[-1]
            (d,) = sampling.distributions(
                row[None, :], s.temperature, s.top_k_entropy, top_p=s.top_p, need=s.record_candidates,
                exact_probs=s.record_candidates > 0,
            )
            for i in range(s.max_seqs):
                b = self.tree.add(Branch(id=i, parent=None, fork_pos=0, candidates=self._cands()))
                b.slot = prompt_slot if i == 0 else self.slots.take()
                if i:
                    self.e.copy_seq(prompt_slot, b.slot, self.P)
            # every sample draws its first token from the prompt's one distribution
            yield from self._choose(self.tree.branches, [row] * s.max_seqs, [d] * s.max_seqs)
        else:
            b = self.tree.add(Branch(id=0, parent=None, fork_pos=0, candidates=self._cands()))
            b.slot = prompt_slot
            yield from self._choose([b], [logits[-1]])
        self._track()

        while True:
            live = [b for b in self.tree.branches if b.finish_reason is None]
            if not live:
                break
            if self.cancel is not None and self.cancel.is_set():
                for b in live:
                    yield from self._finish(b, "cancelled")
                break
            logits = None
            while live:
                logits = self._decode(
                    [b.slot for b in live],
                    [self.pending[b.id] for b in live],
                    [self.P + b.decoded for b in live],
                    [True] * len(live),
                )
                if logits is not None:
                    break
                # no KV slot: end the youngest live sequence and try again
                yield from self._finish(live.pop(), "context_full")
            if not live:
                break
            for b in live:
                b.decoded += 1
                del self.pending[b.id]
            self.steps += 1
            self._track()
            yield from self._choose(live, logits)
            yield StepFinished(
                step=self.steps,
                live=sum(1 for b in self.tree.branches if b.finish_reason is None),
                finished=sum(1 for b in self.tree.branches if b.finish_reason is not None),
                created=len(self.tree.branches),
                kv_cells=self.tree.kv_cells(),
                generated_tokens=self.tree.generated_tokens(),
                decoded_tokens=self.decoded,
                elapsed_s=time.perf_counter() - t0,
                decode_s=self.decode_s,
            )
        yield RunFinished(self._result(time.perf_counter() - t0))

    def _cands(self):
        return [] if self.s.record_candidates > 0 else None

    def _choose(self, rows: list[Branch], logits, dists=None) -> Iterator[Event]:
        """Pick each row's next token: branch, sample or argmax (rows in creation order)."""
        s = self.s
        if dists is None:
            tau = s.temperature if s.temperature > 0 else 1.0
            top_p = 0.0 if s.method == "greedy" else s.top_p  # greedy never samples
            dists = sampling.distributions(
                logits, tau, s.top_k_entropy, top_p=top_p, need=s.record_candidates,
                exact_probs=s.record_candidates > 0,  # only shown candidates need them
            )
        for i, (b, d) in enumerate(zip(rows, dists)):
            h = d.entropy
            row = logits[i]
            top2 = sampling.top_two(d, row)
            cands = sampling.top_candidates(d, s.record_candidates) if s.record_candidates else None
            if s.method == "greedy":
                yield from self._take(b, top2[0], h, top2, cands, branched=False)
            elif (
                s.method == "eager"
                and h >= s.theta
                and len(self.tree.branches) < s.max_seqs
                and b.since_branch < s.monitor_window
                and branch_region.may_fork(s.branch_region, b.text, self.model and self.model.think)
            ):
                yield from self._branch(b, h, top2, cands)
            else:
                tok = sampling.sample_top_p(d, s.top_p, self.rng)
                yield from self._take(b, tok, h, top2, cands, branched=False)

    def _branch(self, parent: Branch, h: float, top2, cands) -> Iterator[Event]:
        a, c = top2
        child = self.tree.add(parent.fork(len(self.tree.branches)))
        pos = len(parent.tokens)
        parent.branched_at.add(pos)
        self.tree.events.append(BranchRecord(parent.id, child.id, pos, h, a, c))
        yield Branched(parent.id, child.id, pos, h, a, c,
                       _show(self.e.piece(a)), _show(self.e.piece(c)))
        # the child shares the parent's cells before either takes its token
        child.slot = self.slots.take()
        self.e.copy_seq(parent.slot, child.slot, self.P + pos)
        child.decoded = pos
        child.since_branch = parent.since_branch = 0
        yield from self._take(parent, a, h, top2, cands, branched=True)
        yield from self._take(child, c, h, top2, cands, branched=False)

    def _take(self, b: Branch, tok: int, h: float, top2, cands, branched: bool) -> Iterator[Event]:
        piece = self.e.piece(tok)
        before = len(b.text)
        added = b.add_token(tok, piece, h, top2, cands)
        yield TokenSampled(b.id, len(b.tokens) - 1, tok, added, h, branched, cands)
        if self.e.is_eog(tok):
            yield from self._finish(b, "eog")
        elif self.maxstop and self._hit_stop(b, before):
            yield from self._finish(b, "stop")
        elif len(b.tokens) >= self.s.max_new_tokens:
            yield from self._finish(b, "length")
        else:
            self.pending[b.id] = tok

    def _hit_stop(self, b: Branch, before: int) -> bool:
        start = max(0, before - self.maxstop + 1)
        cut = min((i for i in (b.text.find(x, start) for x in self.s.stop) if i >= 0), default=-1)
        if cut < 0:
            return False
        b.text = b.text[:cut]
        return True

    def _finish(self, b: Branch, reason: str) -> Iterator[Event]:
        b.finish_reason = reason
        self.pending.pop(b.id, None)
        if b.slot >= 0:
            self.e.remove_seq(b.slot)
            self.slots.give(b.slot)
            b.slot = -1
        tail = b.decoder.decode(b"", final=True)
        if tail and reason != "stop":
            b.text += tail
        yield SequenceFinished(b.id, reason, len(b.tokens), b.text)

    def _start_resumed(self, prompt_slot: int) -> Iterator[Event]:
        """Rebuild the previous tree as records and fork new children at missed branch points."""
        prev, s = self.resume, self.s
        for rec in prev.sequences:
            b = self.tree.add(Branch(id=rec.id, parent=rec.parent, fork_pos=rec.fork_pos))
            b.tokens, b.entropies = list(rec.tokens), list(rec.entropies)
            b.pieces = list(rec.pieces or ())
            b.top2 = list(rec.top2 or ())
            b.text, b.finish_reason = rec.text, rec.finish_reason
        for ev in prev.branches:
            self.tree.branches[ev.parent].branched_at.add(ev.pos)
        self.tree.events.extend(prev.branches)
        points = branch_region.keep_points(missed_branch_points(prev, s.theta), prev.sequences,
                                           s.branch_region, self.model and self.model.think)
        room = s.max_seqs - len(self.tree.branches)
        points = points[: max(0, room)]
        if not points:
            self.slots.give(prompt_slot)
            return
        if len(points) + len({p for p, _ in points}) + 1 > self.e.n_seq_max:
            raise ContextError("too many branch points to continue at once; lower the extra budget")
        # one scaffold per parent holds its re-prefilled prefix up to its latest point
        upto: dict[int, int] = {}
        for p, i in points:
            upto[p] = max(upto.get(p, 0), i)
        scaffold: dict[int, Branch] = {}
        for p, n in sorted(upto.items()):
            sc = Branch(id=-1, parent=None, fork_pos=0, kv_base=0)
            sc.slot = self.slots.take()
            self.e.copy_seq(prompt_slot, sc.slot, self.P)
            if n:
                self._prefill(sc.slot, list(self.tree.branches[p].tokens[:n]), self.P, False)
            sc.decoded = n
            scaffold[p] = sc
            self.tree.scaffolds.append(sc)
        self.e.remove_seq(prompt_slot)
        self.slots.give(prompt_slot)
        self._track()
        for p, i in points:
            parent = self.tree.branches[p]
            a, c = parent.top2[i]
            tok = c if parent.tokens[i] == a else a
            h = parent.entropies[i]
            child = Branch(
                id=len(self.tree.branches), parent=p, fork_pos=i,
                tokens=list(parent.tokens[:i]), entropies=list(parent.entropies[:i]),
                pieces=list(parent.pieces[:i]), top2=list(parent.top2[:i]),
                text="".join(parent.pieces[:i]), candidates=self._cands(),
                kv_parent=scaffold[p], kv_base=i,
            )
            if child.candidates is not None:
                child.candidates = [None] * i
            self.tree.add(child)
            parent.branched_at.add(i)
            self.tree.events.append(BranchRecord(p, child.id, i, h, parent.tokens[i], tok))
            yield Branched(p, child.id, i, h, parent.tokens[i], tok,
                           _show(self.e.piece(parent.tokens[i])), _show(self.e.piece(tok)))
            yield from self._take(child, tok, h, parent.top2[i], None, branched=False)
            if child.finish_reason is None:
                child.slot = self.slots.take()
                self.e.copy_seq(scaffold[p].slot, child.slot, self.P + i)
                child.decoded = i
        for sc in scaffold.values():
            self.e.remove_seq(sc.slot)
            self.slots.give(sc.slot)
            sc.slot = -1
        self._track()

    def _result(self, wall: float) -> RunResult:
        prev = self.resume.stats if self.resume is not None else None
        stats = RunStats(
            prompt_tokens=self.P,
            generated_tokens=self.tree.generated_tokens(),
            decoded_tokens=self.decoded + (prev.decoded_tokens if prev else 0),
            n_sequences=len(self.tree.branches),
            peak_kv_cells=max(self.peak, prev.peak_kv_cells if prev else 0),
            wall_s=wall + (prev.wall_s if prev else 0.0),
            decode_s=self.decode_s + (prev.decode_s if prev else 0.0),
            steps=self.steps + (prev.steps if prev else 0),
        )
        return RunResult(
            prompt=self.prompt,
            settings=self.s,
            sequences=tuple(b.record() for b in self.tree.branches),
            branches=tuple(self.tree.events),
            stats=stats,
            model=self.model,
            prompt_token_ids=tuple(self.ids),
        )


def missed_branch_points(result: RunResult, theta: float) -> list[tuple[int, int]]:
    """(sequence, index) where H ≥ θ but no branch happened, earliest index first.

    Every sequence generates in lockstep, so index order is time order. A child's
    first token is its parent's branch and is skipped, as are positions that already
    branched, positions past the monitoring window, and sequences without top-2 data.
    """
    done = {(b.parent, b.pos) for b in result.branches}
    window = result.settings.monitor_window
    out = []
    for rec in result.sequences:
        if not rec.top2:
            continue
        last = rec.fork_pos
        start = rec.fork_pos + (1 if rec.parent is not None else 0)
        branched = sorted(pos for (p, pos) in done if p == rec.id)
        for i in range(start, len(rec.tokens)):
            while branched and branched[0] <= i:
                last = branched.pop(0)
            if i - last >= window:
                break
            if rec.entropies[i] >= theta and (rec.id, i) not in done:
                out.append((rec.id, i))
    out.sort(key=lambda t: (t[1], t[0]))
    return out


def _show(piece: bytes) -> str:
    return piece.decode("utf-8", errors="replace")
