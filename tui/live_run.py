"""The UI thread's picture of a run: built from events as they arrive, or from a saved result.

Plain data with no Textual in it, so it can be tested on its own. Only the UI
thread mutates a ``LiveRun`` (the worker sends it events in messages).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from eager_local.events import (
    Branched,
    Notice,
    RunFinished,
    RunStarted,
    SequenceFinished,
    StepFinished,
    TokenSampled,
)
from eager_local.result import ModelInfo, RunResult
from eager_local.settings import Settings

Candidates = tuple[tuple[int, float], ...]


@dataclass
class LiveSeq:
    """One sequence as far as it has been decoded (mutable: it grows)."""

    id: int
    """eager-local's sequence id (creation order)."""
    parent: int | None
    """The sequence this one was forked from, None for a root."""
    fork_pos: int
    """Generated tokens shared with the parent."""
    tokens: list[int] = field(default_factory=list)
    """Every generated token, the shared prefix included."""
    pieces: list[str] = field(default_factory=list)
    """The text each token added ('' inside a UTF-8 character)."""
    entropies: list[float] = field(default_factory=list)
    """Top-K entropy (nats) of the distribution each token came from."""
    candidates: list[Candidates | None] = field(default_factory=list)
    """Top candidates (token, probability) per token, when recorded."""
    finish_reason: str | None = None
    """None while the sequence is live."""

    @property
    def text(self) -> str:
        return "".join(self.pieces)


#: A branch event with the text of both competing tokens: the core's own event.
BranchPoint = Branched


@dataclass(frozen=True)
class Counters:
    """The latest live counters (from StepFinished)."""

    step: int = 0
    live: int = 0
    finished: int = 0
    created: int = 0
    kv_cells: int = 0
    generated_tokens: int = 0
    decoded_tokens: int = 0
    elapsed_s: float = 0.0


@dataclass
class LiveRun:
    """Everything the TUI shows about one run."""

    prompt: str = ""
    settings: Settings = field(default_factory=Settings)
    model: ModelInfo | None = None
    n_ctx: int = 0
    prompt_tokens: int = 0
    seqs: list[LiveSeq] = field(default_factory=list)
    """Indexed by sequence id."""
    branches: list[BranchPoint] = field(default_factory=list)
    counters: Counters = field(default_factory=Counters)
    result: RunResult | None = None
    """Set when the run finished (or was loaded)."""
    vocab: dict[int, str] = field(default_factory=dict)
    """Text of candidate tokens, so the inspector can name them."""
    notices: list[str] = field(default_factory=list)

    @property
    def finished(self) -> bool:
        return self.result is not None

    def apply(self, ev) -> bool:
        """Fold one event in; return True when the branch structure changed."""
        if isinstance(ev, RunStarted):
            self.prompt, self.settings, self.model = ev.prompt, ev.settings, ev.model
            self.n_ctx, self.prompt_tokens = ev.n_ctx, ev.prompt_tokens
            return True
        if isinstance(ev, TokenSampled):
            s = self._seq(ev.seq)
            s.tokens.append(ev.token)
            s.pieces.append(ev.piece)
            s.entropies.append(ev.entropy)
            s.candidates.append(ev.candidates)
            return len(s.tokens) == 1 and s.parent is None
        if isinstance(ev, Branched):
            p = self._seq(ev.parent)  # a root can branch before its first token arrives
            n = ev.pos
            self._seq(ev.child - 1)
            child = LiveSeq(ev.child, ev.parent, n, p.tokens[:n], p.pieces[:n],
                            p.entropies[:n], p.candidates[:n])
            if len(self.seqs) == ev.child:
                self.seqs.append(child)
            else:
                self.seqs[ev.child] = child
            self.branches.append(ev)
            return True
        if isinstance(ev, SequenceFinished):
            self.seqs[ev.seq].finish_reason = ev.reason
            return False
        if isinstance(ev, StepFinished):
            self.counters = Counters(ev.step, ev.live, ev.finished, ev.created, ev.kv_cells,
                                     ev.generated_tokens, ev.decoded_tokens, ev.elapsed_s)
            return False
        if isinstance(ev, Notice):
            self.notices.append(ev.message)
            return False
        if isinstance(ev, RunFinished):
            self.result = ev.result
            st = ev.result.stats
            self.counters = Counters(st.steps, 0, st.n_sequences, st.n_sequences, st.peak_kv_cells,
                                     st.generated_tokens, st.decoded_tokens, st.wall_s)
            return False
        return False

    def _seq(self, i: int) -> LiveSeq:
        """Sequence ``i``, creating roots up to it (a root appears with its first event)."""
        while len(self.seqs) <= i:
            self.seqs.append(LiveSeq(len(self.seqs), None, 0))
        return self.seqs[i]

    @classmethod
    def from_result(cls, result: RunResult, vocab: dict[int, str] | None = None) -> "LiveRun":
        """A finished run, as loaded from a saved document."""
        vocab = dict(vocab or {})
        run = cls(prompt=result.prompt, settings=result.settings, model=result.model,
                  prompt_tokens=result.stats.prompt_tokens, vocab=vocab)
        for rec in result.sequences:
            pieces = list(rec.pieces) if rec.pieces is not None else _pieces_from(rec, vocab)
            cands = list(rec.candidates) if rec.candidates is not None else [None] * len(rec.tokens)
            run.seqs.append(LiveSeq(rec.id, rec.parent, rec.fork_pos, list(rec.tokens), pieces,
                                    list(rec.entropies), cands, rec.finish_reason))
        for b in result.branches:
            run.branches.append(BranchPoint(
                b.parent, b.child, b.pos, b.entropy, b.parent_token, b.child_token,
                vocab.get(b.parent_token, _piece_at(run, b.parent, b.pos)),
                vocab.get(b.child_token, _piece_at(run, b.child, b.pos))))
        st = result.stats
        run.counters = Counters(st.steps, 0, st.n_sequences, st.n_sequences, st.peak_kv_cells,
                                st.generated_tokens, st.decoded_tokens, st.wall_s)
        run.result = result
        return run

    # questions the views ask ---------------------------------------------------
    def branch_positions(self, seq: int) -> set[int]:
        """Positions of ``seq``'s text where some branch happened (its own or an ancestor's)."""
        out: set[int] = set()
        s = self.seqs[seq]
        limit = len(s.tokens)
        while True:
            out |= {b.pos for b in self.branches if b.parent == s.id and b.pos < limit}
            if s.parent is None:
                return out
            out.add(s.fork_pos)  # the branch this sequence was born at
            limit = s.fork_pos  # an ancestor's tokens are shared only up to the fork
            s = self.seqs[s.parent]

    def branch_at(self, seq: int, index: int) -> tuple[BranchPoint, str] | None:
        """The branch at token ``index`` of ``seq`` and which side ``seq`` is on."""
        s = self.seqs[seq]
        while s.parent is not None and index < s.fork_pos:
            s = self.seqs[s.parent]  # an inherited token belongs to an ancestor
        for b in self.branches:
            if b.pos == index and b.child == s.id:
                return b, "child"
            if b.pos == index and b.parent == s.id:
                return b, "parent"
        return None

    def token_text(self, token: int) -> str | None:
        return self.vocab.get(token)


def _piece_at(run: LiveRun, seq: int, pos: int) -> str:
    s = run.seqs[seq] if seq < len(run.seqs) else None
    return s.pieces[pos] if s is not None and pos < len(s.pieces) else ""


def _pieces_from(rec, vocab: dict[int, str]) -> list[str]:
    """Per-token text for a run saved without pieces: from the vocab, else the whole text once."""
    if all(t in vocab for t in rec.tokens):
        return [vocab[t] for t in rec.tokens]
    return [rec.text] + [""] * (len(rec.tokens) - 1) if rec.tokens else []
