"""The sequence tree while it grows: live sequences, their text, and KV accounting.

Plain data and arithmetic; no llama.cpp, no I/O. A fork in the tree is where a
child sequence splits off its parent (``LiveSequence.fork``); its KV side (a
sequence-id copy in the engine) is done by the controller.
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass, field

from .result import Fork, SequenceRecord


def _utf8_decoder() -> codecs.IncrementalDecoder:
    return codecs.getincrementaldecoder("utf-8")(errors="replace")


@dataclass(eq=False)
class LiveSequence:
    """A sequence of the tree while it is being generated (or shown as it grows)."""

    id: int
    """Index in creation order, 0 for the root."""
    parent: int | None
    """The sequence this one was forked from; None for a root."""
    fork_pos: int
    """Generated tokens shared with the parent (0 for a root)."""
    tokens: list[int] = field(default_factory=list)
    """Every generated token, the shared prefix included."""
    entropies: list[float] = field(default_factory=list)
    """Top-K entropy (nats) of the distribution each token came from."""
    pieces: list[str] = field(default_factory=list)
    """The text each token added ('' inside a UTF-8 character)."""
    candidates: list[tuple | None] | None = None
    """Top candidates (token, probability) per token when recorded, else None."""
    text: str = ""
    """Decoded text so far (cut before a stop string once finished)."""
    decoder: codecs.IncrementalDecoder = field(default_factory=_utf8_decoder)
    """UTF-8 decoder of the token bytes (a character may span tokens)."""
    slot: int = -1
    """llama.cpp sequence id holding this sequence's KV, -1 when none."""
    kv_parent: "LiveSequence | None" = None
    """The sequence whose KV cells this one shares below ``kv_base`` (None: owns all)."""
    kv_base: int = 0
    """First generated index whose KV cell this sequence owns."""
    decoded: int = 0
    """Generated tokens of this sequence whose KV is in the cache."""
    since_fork: int = 0
    """Tokens generated since this sequence was created or last forked."""
    finish_reason: str | None = None
    """None while the sequence is live."""
    top2: list[tuple[int, int] | None] = field(default_factory=list)
    """The two most likely tokens at each position (what a later fork would take)."""
    forked_at: set[int] = field(default_factory=set)
    """Generated indices where this sequence was the parent of a fork."""

    def add_token(self, token: int, piece: bytes, entropy: float, top2, cands=None) -> str:
        """Append a token from its bytes; return the text it added."""
        text = self.decoder.decode(piece)
        self.append(token, text, entropy, top2, cands)
        return text

    def append(self, token: int, text: str, entropy: float, top2=None, cands=None) -> None:
        """Append a token whose text is already decoded."""
        self.top2.append(top2)
        self.tokens.append(token)
        self.entropies.append(entropy)
        self.pieces.append(text)
        if self.candidates is not None:
            self.candidates.append(cands)
        self.text += text
        self.since_fork += 1

    def fork(self, child_id: int, pos: int | None = None) -> "LiveSequence":
        """A child sharing this sequence's first ``pos`` tokens (default: all so far)."""
        pos = len(self.tokens) if pos is None else pos
        dec = _utf8_decoder()
        if pos == len(self.tokens):
            dec.setstate(self.decoder.getstate())  # a character may be half decoded
        return LiveSequence(
            id=child_id,
            parent=self.id,
            fork_pos=pos,
            tokens=self.tokens[:pos],
            entropies=self.entropies[:pos],
            pieces=self.pieces[:pos],
            candidates=None if self.candidates is None else self.candidates[:pos],
            text=self.text if pos == len(self.tokens) else "".join(self.pieces[:pos]),
            decoder=dec,
            kv_parent=self,
            kv_base=pos,
            top2=self.top2[:pos],
        )

    def record(self) -> SequenceRecord:
        """The finished record (a live one is recorded as cancelled)."""
        return SequenceRecord(
            id=self.id,
            parent=self.parent,
            fork_pos=self.fork_pos,
            tokens=tuple(self.tokens),
            entropies=tuple(self.entropies),
            text=self.text,
            finish_reason=self.finish_reason or "cancelled",
            candidates=None if self.candidates is None else tuple(self.candidates),
            pieces=tuple(self.pieces),
            top2=tuple(self.top2),
        )

    @classmethod
    def from_record(cls, rec: SequenceRecord, candidates: bool = False) -> "LiveSequence":
        """A finished record back as a tree member (to continue or to show it)."""
        n = len(rec.tokens)
        cands = None
        if candidates:
            cands = list(rec.candidates) if rec.candidates is not None else [None] * n
        return cls(
            id=rec.id, parent=rec.parent, fork_pos=rec.fork_pos,
            tokens=list(rec.tokens), entropies=list(rec.entropies),
            pieces=list(rec.pieces or ()), candidates=cands, text=rec.text,
            finish_reason=rec.finish_reason, top2=list(rec.top2 or ()),
        )


class SequenceTree:
    """All sequences of one prompt, in creation order, and the forks between them."""

    def __init__(self, prompt_tokens: int) -> None:
        self.prompt_tokens = prompt_tokens
        self.sequences: list[LiveSequence] = []
        self.forks: list[Fork] = []
        self.scaffolds: list[LiveSequence] = []
        """Hidden sequences that hold a re-prefilled prefix while children copy it."""

    def add(self, seq: LiveSequence) -> LiveSequence:
        assert seq.id == len(self.sequences)
        self.sequences.append(seq)
        return seq

    def live(self) -> list[LiveSequence]:
        """The sequences still generating, in creation order."""
        return [q for q in self.sequences if q.finish_reason is None]

    def generated_tokens(self) -> int:
        """Tokens of the tree, each shared prefix counted once."""
        return sum(len(q.tokens) - q.fork_pos for q in self.sequences)

    def kv_cells(self) -> int:
        """KV cells held now: the prompt plus every distinct generated cell of a sequence in the cache.

        A sequence owns the cells from ``kv_base`` to ``decoded``; below ``kv_base``
        it references its ``kv_parent``'s cells. An owner's referenced cells are
        always a prefix of its own range, so the union is a running maximum.
        """
        reach: dict[int, tuple[LiveSequence, int]] = {}
        for q in self.sequences + self.scaffolds:
            if q.slot < 0:
                continue
            node, upto = q, q.decoded
            while node is not None:
                seen = reach.get(id(node))
                if seen is not None and seen[1] >= upto:
                    break  # an earlier walk already covered this owner and everything above
                reach[id(node)] = (node, upto)
                node, upto = node.kv_parent, node.kv_base
        held = sum(max(0, upto - node.kv_base) for node, upto in reach.values())
        return (self.prompt_tokens if reach else 0) + held
