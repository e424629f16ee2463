"""The branch tree while it grows: live sequences, their text, and KV accounting.

Plain data and arithmetic; no llama.cpp, no I/O.
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass, field

from .result import BranchRecord, SequenceRecord


@dataclass(eq=False)
class Branch:
    """A sequence of the tree while it is being generated."""

    id: int
    parent: int | None
    fork_pos: int
    tokens: list[int] = field(default_factory=list)
    entropies: list[float] = field(default_factory=list)
    pieces: list[str] = field(default_factory=list)
    candidates: list[tuple] | None = None
    text: str = ""
    decoder: codecs.IncrementalDecoder = field(
        default_factory=lambda: codecs.getincrementaldecoder("utf-8")(errors="replace")
    )
    slot: int = -1
    """llama.cpp sequence id holding this branch's KV, -1 when none."""
    kv_parent: "Branch | None" = None
    """The branch whose KV cells this one shares below ``kv_base`` (None: owns all)."""
    kv_base: int = 0
    """First generated index whose KV cell this branch owns."""
    decoded: int = 0
    """Generated tokens of this branch whose KV is in the cache."""
    since_branch: int = 0
    """Tokens generated since this branch was created or last branched."""
    finish_reason: str | None = None
    top2: list[tuple[int, int]] = field(default_factory=list)
    """The two most likely tokens at each position (what a later branch would take)."""
    branched_at: set[int] = field(default_factory=set)
    """Generated indices where this branch was the parent of a branch event."""

    def add_token(self, token: int, piece: bytes, entropy: float, top2, cands=None) -> str:
        """Append a token; return the text it added."""
        s = self.decoder.decode(piece)
        self.top2.append(top2)
        self.tokens.append(token)
        self.entropies.append(entropy)
        self.pieces.append(s)
        if self.candidates is not None:
            self.candidates.append(cands)
        self.text += s
        self.since_branch += 1
        return s

    def fork(self, child_id: int) -> "Branch":
        """A child sharing everything generated so far (before this step's token)."""
        dec = codecs.getincrementaldecoder("utf-8")(errors="replace")
        dec.setstate(self.decoder.getstate())
        return Branch(
            id=child_id,
            parent=self.id,
            fork_pos=len(self.tokens),
            tokens=list(self.tokens),
            entropies=list(self.entropies),
            pieces=list(self.pieces),
            candidates=None if self.candidates is None else list(self.candidates),
            text=self.text,
            decoder=dec,
            kv_parent=self,
            kv_base=len(self.tokens),
            top2=list(self.top2),
        )

    def record(self) -> SequenceRecord:
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


class BranchTree:
    """All branches of one prompt, in creation order."""

    def __init__(self, prompt_tokens: int) -> None:
        self.prompt_tokens = prompt_tokens
        self.branches: list[Branch] = []
        self.events: list[BranchRecord] = []
        self.scaffolds: list[Branch] = []
        """Hidden branches that hold a re-prefilled prefix while children copy it."""

    def add(self, b: Branch) -> Branch:
        assert b.id == len(self.branches)
        self.branches.append(b)
        return b

    @property
    def live(self) -> list[Branch]:
        return [b for b in self.branches if b.finish_reason is None]

    def generated_tokens(self) -> int:
        """Tokens of the tree, each shared prefix counted once."""
        return sum(len(b.tokens) - b.fork_pos for b in self.branches)

    def kv_cells(self) -> int:
        """KV cells held now: the prompt plus every distinct generated cell of a branch in the cache.

        A branch owns the cells from ``kv_base`` to ``decoded``; below ``kv_base``
        it references its ``kv_parent``'s cells. An owner's referenced cells are
        always a prefix of its own range, so the union is a running maximum.
        """
        reach: dict[int, tuple[Branch, int]] = {}
        for b in self.branches + self.scaffolds:
            if b.slot < 0:
                continue
            node, upto = b, b.decoded
            while node is not None:
                seen = reach.get(id(node))
                if seen is not None and seen[1] >= upto:
                    break  # an earlier walk already covered this owner and everything above
                reach[id(node)] = (node, upto)
                node, upto = node.kv_parent, node.kv_base
        held = sum(max(0, upto - node.kv_base) for node, upto in reach.values())
        return (self.prompt_tokens if reach else 0) + held
