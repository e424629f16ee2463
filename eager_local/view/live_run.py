"""The UI thread's picture of a run: built from events as they arrive, or from a saved result.

Plain data with no Textual in it, so it can be tested on its own. Only the UI
thread mutates a ``LiveRun`` (the worker sends it events in messages).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..events import (
    Forked,
    RunFinished,
    RunStarted,
    SequenceFinished,
    StepFinished,
    TokenSampled,
)
from ..conversation import Conversation
from ..result import ModelInfo, RunResult
from ..settings import Settings
from ..tree import LiveSequence


#: Counters before the first step.
NO_STEP = StepFinished(0, 0, 0, 0, 0, 0, 0, 0.0, 0.0)


def finished_counters(stats) -> StepFinished:
    """The counters of a finished run, from its statistics."""
    return StepFinished(stats.steps, 0, stats.n_sequences, stats.n_sequences, stats.peak_kv_cells,
                        stats.generated_tokens, stats.decoded_tokens, stats.wall_s, stats.decode_s)


@dataclass
class LiveRun:
    """Everything the TUI shows about one run."""

    prompt: str = ""
    settings: Settings = field(default_factory=Settings)
    model: ModelInfo | None = None
    n_ctx: int = 0
    prompt_tokens: int = 0
    seqs: list[LiveSequence] = field(default_factory=list)
    """Indexed by sequence id (the core's live sequences, fed from events)."""
    forks: list[Forked] = field(default_factory=list)
    """Every fork so far, with the text of both tokens."""
    counters: StepFinished = NO_STEP
    """The latest live counters (the last StepFinished)."""
    result: RunResult | None = None
    """Set when the run finished (or was loaded)."""
    vocab: dict[int, str] = field(default_factory=dict)
    """Text of candidate tokens, so the inspector can name them."""
    verdicts: dict[int, tuple[str | None, bool]] = field(default_factory=dict)
    """Per sequence of a prompt opened from an eval run file: (answer, right)."""
    conversation: Conversation | None = None
    """The turns that led to this run (its own the last); None for a run on its own."""

    @property
    def finished(self) -> bool:
        return self.result is not None

    def apply(self, ev) -> bool:
        """Fold one event in; return True when the tree's shape changed."""
        if isinstance(ev, RunStarted):
            self.prompt, self.settings, self.model = ev.prompt, ev.settings, ev.model
            self.n_ctx, self.prompt_tokens = ev.n_ctx, ev.prompt_tokens
            return True
        if isinstance(ev, TokenSampled):
            s = self._seq(ev.seq)
            s.append(ev.token, ev.piece, ev.entropy, None, ev.candidates)
            return len(s.tokens) == 1 and s.parent is None
        if isinstance(ev, Forked):
            p = self._seq(ev.parent)  # a root can fork before its first token arrives
            self._seq(ev.child - 1)
            child = p.fork(ev.child, ev.pos)
            if len(self.seqs) == ev.child:
                self.seqs.append(child)
            else:
                self.seqs[ev.child] = child
            self.forks.append(ev)
            return True
        if isinstance(ev, SequenceFinished):
            self.seqs[ev.seq].finish_reason = ev.reason
            return False
        if isinstance(ev, StepFinished):
            self.counters = ev
            return False
        if isinstance(ev, RunFinished):
            self.result = ev.result
            self.counters = finished_counters(ev.result.stats)
            return False
        return False

    def _seq(self, i: int) -> LiveSequence:
        """Sequence ``i``, creating roots up to it (a root appears with its first event)."""
        while len(self.seqs) <= i:
            self.seqs.append(LiveSequence(len(self.seqs), None, 0, candidates=[]))
        return self.seqs[i]

    @classmethod
    def from_result(cls, result: RunResult, vocab: dict[int, str] | None = None) -> "LiveRun":
        """A finished run, as loaded from a saved document."""
        vocab = dict(vocab or {})
        run = cls(prompt=result.prompt, settings=result.settings, model=result.model,
                  prompt_tokens=result.stats.prompt_tokens, vocab=vocab)
        for rec in result.sequences:
            q = LiveSequence.from_record(rec, candidates=True)
            if rec.pieces is None:
                q.pieces = _pieces_from(rec, vocab)
            run.seqs.append(q)
        for f in result.forks:
            run.forks.append(Forked(
                f, vocab.get(f.parent_token, _piece_at(run, f.parent, f.pos)),
                vocab.get(f.child_token, _piece_at(run, f.child, f.pos))))
        run.counters = finished_counters(result.stats)
        run.result = result
        return run

    # questions the views ask ---------------------------------------------------
    def fork_positions(self, seq: int) -> set[int]:
        """Positions of ``seq``'s text where some fork happened (its own or an ancestor's)."""
        out: set[int] = set()
        s = self.seqs[seq]
        limit = len(s.tokens)
        while True:
            out |= {f.pos for f in self.forks if f.parent == s.id and f.pos < limit}
            if s.parent is None:
                return out
            out.add(s.fork_pos)  # the fork this sequence was born at
            limit = s.fork_pos  # an ancestor's tokens are shared only up to the fork
            s = self.seqs[s.parent]

    def fork_at(self, seq: int, index: int) -> tuple[Forked, str] | None:
        """The fork at token ``index`` of ``seq`` and which side ``seq`` is on."""
        s = self.seqs[seq]
        while s.parent is not None and index < s.fork_pos:
            s = self.seqs[s.parent]  # an inherited token belongs to an ancestor
        for f in self.forks:
            if f.pos == index and f.child == s.id:
                return f, "child"
            if f.pos == index and f.parent == s.id:
                return f, "parent"
        return None

    def token_text(self, token: int) -> str | None:
        return self.vocab.get(token)

    def add_vocab(self, engine) -> None:
        """Name every token the run mentions (chosen or candidate) with ``engine``'s text."""
        for q in self.seqs:
            for t in list(q.tokens) + [t for c in q.candidates or () for t, _ in c or ()]:
                if t not in self.vocab:
                    self.vocab[t] = engine.piece(t).decode("utf-8", errors="replace")

    def what_if_marks(self, w, seq: int) -> set[int]:
        """Token indices of ``seq``'s text that would fork at ``w``'s θ (its own or an ancestor's)."""
        out: set[int] = set()
        s, limit = self.seqs[seq], len(self.seqs[seq].tokens)
        while True:
            out |= {i for i in w.marks(s.id) if i < limit}
            if s.parent is None:
                return out
            limit = s.fork_pos
            s = self.seqs[s.parent]


def _piece_at(run: LiveRun, seq: int, pos: int) -> str:
    s = run.seqs[seq] if seq < len(run.seqs) else None
    return s.pieces[pos] if s is not None and pos < len(s.pieces) else ""


def _pieces_from(rec, vocab: dict[int, str]) -> list[str]:
    """Per-token text for a run saved without pieces: from the vocab, else the whole text once."""
    if all(t in vocab for t in rec.tokens):
        return [vocab[t] for t in rec.tokens]
    return [rec.text] + [""] * (len(rec.tokens) - 1) if rec.tokens else []
